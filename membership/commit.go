package membership

import (
	"slices"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/ring"
)

// inCommit reports whether id is a member of the ring being formed.
func (m *Machine) inCommit(id wire.NodeID) bool {
	if m.commitCopy == nil {
		return false
	}
	_, ok := commitIndex(m.commitCopy, id)
	return ok
}

func commitIndex(ct *wire.CommitToken, id wire.NodeID) (int, bool) {
	return slices.BinarySearchFunc(ct.Members, id, func(cm wire.CommitMember, id wire.NodeID) int {
		return int(int64(cm.Node) - int64(id))
	})
}

func commitNodes(ct *wire.CommitToken) []wire.NodeID {
	ids := make([]wire.NodeID, len(ct.Members))
	for i, cm := range ct.Members {
		ids[i] = cm.Node
	}
	return ids
}

func allFilled(ct *wire.CommitToken) bool {
	for _, cm := range ct.Members {
		if !cm.Filled {
			return false
		}
	}
	return true
}

// handleCommit runs the two rotations of the commit token (totem-protocol.md §4.5).
func (m *Machine) handleCommit(now time.Duration, ct *wire.CommitToken) {
	i, member := commitIndex(ct, m.self)
	if !member {
		return
	}
	switch m.state {
	case Gather:
		// First rotation: the representative proposes exactly the members we agreed on.
		if allFilled(ct) || ct.Members[i].Filled || ct.Ring.Seq <= m.ringSeq ||
			!slices.Equal(commitNodes(ct), m.live()) {
			return
		}
		m.fillCommit(now, ct, i)
	case Commit:
		if ct.Ring != m.commitRing || ct.TokenSeq <= m.commitSeen || !allFilled(ct) {
			return
		}
		// Second rotation: every member's old-ring state is known.
		m.commitSeen = ct.TokenSeq
		m.shiftToRecovery(now, ct)
		m.forwardCommit(now, ct, i)
	case Recovery:
		if ct.Ring != m.commitRing || ct.TokenSeq <= m.commitSeen || m.self != ct.Ring.Rep || m.rec.started {
			return
		}
		// The second rotation is complete: the representative starts the new ring.
		m.rec.started = true
		m.commitSeen = ct.TokenSeq
		m.commitResendAt = 0
		m.cur.Start(now)
	}
}

// fillCommit writes our old-ring state into our entry and passes the token on: first
// rotation, we are now committed to this ring (its id is persisted).
func (m *Machine) fillCommit(now time.Duration, ct *wire.CommitToken, i int) {
	e := &ct.Members[i]
	e.Filled = true
	e.OldRing = m.regID
	if m.old != nil {
		e.Aru, e.HighDelivered = m.old.Aru(), m.old.HighDelivered()
		e.Received = m.old.Aru() == m.old.HighSeq()
	}
	m.ringSeq = max(m.ringSeq, ct.Ring.Seq)
	m.ready.RingSeq = m.ringSeq
	m.commitRing = ct.Ring
	m.commitSeen = ct.TokenSeq
	m.transition(Commit, ct.Ring, "commit token")
	m.commitLossAt = now + m.cfg.Ring.TokenTimeout
	m.forwardCommit(now, ct, i)
}

// forwardCommit sends the token to the next member in ring order and keeps a copy to
// re-send until there is progress.
func (m *Machine) forwardCommit(now time.Duration, ct *wire.CommitToken, i int) {
	out := *ct
	out.Members = slices.Clone(ct.Members)
	out.MembIndex = uint32(i)
	out.TokenSeq = ct.TokenSeq + 1
	m.commitCopy = &out
	m.commitTo = ct.Members[(i+1)%len(ct.Members)].Node
	m.commitResendAt = now + m.cfg.Ring.TokenRetransmit
	m.sendCommit()
}

func (m *Machine) sendCommit() {
	m.ready.Unicast = append(m.ready.Unicast, ring.Unicast{To: m.commitTo, Packet: m.commitCopy})
}
