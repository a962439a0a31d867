package membership

import (
	"slices"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// shiftToGather abandons the current ring (or the membership round in progress) and
// starts gathering: announce our view of the members, collect the others' views.
func (m *Machine) shiftToGather(now time.Duration, reason string) {
	m.shiftToGatherBecause(now, Transition{Reason: reason})
}

// shiftToGatherBecause is shiftToGather for a failure: why carries the reason and the
// failure's details (From, To and Ring are filled in here).
func (m *Machine) shiftToGatherBecause(now time.Duration, why Transition) {
	switch m.state {
	case Operational:
		// The installed ring becomes the old ring: keep its store, take back what was
		// never sent.
		m.old = m.cur
		m.old.Stop()
		m.pending = append(m.cur.TakeQueue(), m.pending...)
		m.proc = setAdd(setOf(m.regMembers), m.self)
		m.fail = nil
	case Commit, Recovery:
		// A failed round: the new ring is dropped; the old ring and everything learnt
		// about members stays.
		if m.cur != nil {
			m.cur.Stop()
		}
		// Messages of the abandoned ring were never ours to deliver: we did not
		// install it.
		m.newHeld = nil
	}
	m.cur, m.rec = nil, nil
	m.commitCopy, m.commitResendAt, m.commitLossAt = nil, 0, 0
	why.From, why.To, why.Ring = m.state, Gather, m.regID
	m.record(why)
	m.restartGather(now)
}

// restartGather begins a new round of join exchange with the current sets.
func (m *Machine) restartGather(now time.Duration) {
	m.proc = setAdd(m.proc, m.self)
	m.consensus = map[wire.NodeID]bool{m.self: true}
	m.sendJoin()
	m.joinAt = now + m.cfg.Join
	m.consensusAt = now + m.cfg.Consensus
}

func (m *Machine) sendJoin() {
	m.ready.Multicast = append(m.ready.Multicast, &wire.Join{
		ProcSet: slices.Clone(m.proc),
		FailSet: slices.Clone(m.fail),
		RingSeq: m.ringSeq,
	})
}

// handleJoin applies the transition table of totem-protocol.md §4.2 to a join.
func (m *Machine) handleJoin(now time.Duration, from wire.NodeID, j *wire.Join) {
	switch m.state {
	case Operational:
		if setHas(j.FailSet, m.self) && !j.Leave {
			return // they gave up on us; we will merge when we hear their ring
		}
		if setHas(m.regMembers, from) && j.RingSeq < m.regID.Seq {
			return // a stale join from a round we have finished
		}
		if j.Leave && !setHas(m.regMembers, from) {
			return
		}
		m.noteJoinSeq(j)
		m.shiftToGather(now, "join from "+from.String())
		m.processJoin(now, from, j)
	case Gather:
		m.noteJoinSeq(j)
		m.processJoin(now, from, j)
	case Commit, Recovery:
		// Only a member of the ring being formed that has given up on it (it sends joins
		// with a ring seq at least the new ring's) makes us give up too.
		if m.inCommit(from) && j.RingSeq >= m.commitRing.Seq {
			m.noteJoinSeq(j)
			m.shiftToGather(now, "join from "+from.String()+" during "+m.state.String())
			m.processJoin(now, from, j)
		}
	}
}

func (m *Machine) noteJoinSeq(j *wire.Join) {
	m.maxJoinSeq = max(m.maxJoinSeq, j.RingSeq)
}

// processJoin is the consensus rule (totem-protocol.md §4.3).
func (m *Machine) processJoin(now time.Duration, from wire.NodeID, j *wire.Join) {
	if j.Leave {
		if !setHas(m.fail, from) && from != m.self {
			m.leaving = setAdd(m.leaving, from)
			m.proc = setAdd(m.proc, from)
			m.fail = setAdd(m.fail, from)
			m.restartGather(now)
		}
		return
	}
	if slices.Equal(j.ProcSet, m.proc) && slices.Equal(j.FailSet, m.fail) {
		m.consensus[from] = true
		m.checkConsensus(now)
		return
	}
	if setSubset(j.ProcSet, m.proc) && setSubset(j.FailSet, m.fail) {
		return // nothing new
	}
	if setHas(m.fail, from) {
		return
	}
	procLen, failLen := len(m.proc), len(m.fail)
	m.proc = setAdd(m.proc, j.ProcSet...)
	m.proc = setAdd(m.proc, from)
	switch {
	case setHas(j.FailSet, m.self):
		// It gave up on us: we give up on it.
		m.fail = setAdd(m.fail, from)
	case setHas(m.regMembers, from):
		// Only members of our own ring may tell us who of them failed.
		m.fail = setAdd(m.fail, setMinus(j.FailSet, []wire.NodeID{m.self})...)
	}
	m.proc = setAdd(m.proc, m.fail...)
	// Sets only grow, so a round restarts a bounded number of times. Restarting on a join
	// that taught us nothing (its fail set came from another ring's member) would answer
	// every join with a join: with three or more processors that disagree, a storm that
	// grows with every hop. Corosync restarts regardless; we do not.
	if len(m.proc) != procLen || len(m.fail) != failLen {
		m.restartGather(now)
	}
}

// live is the proposed membership: proc minus fail.
func (m *Machine) live() []wire.NodeID { return setMinus(m.proc, m.fail) }

// checkConsensus forms the new ring when every live processor sent our exact sets and we
// are the representative (the lowest live id).
func (m *Machine) checkConsensus(now time.Duration) {
	live := m.live()
	for _, id := range live {
		if !m.consensus[id] {
			return
		}
	}
	if len(live) == 0 || live[0] != m.self {
		return
	}
	m.ringSeq = max(m.ringSeq, m.maxJoinSeq) + 4
	m.ready.RingSeq = m.ringSeq
	id := wire.RingID{Rep: m.self, Seq: m.ringSeq}
	if len(live) == 1 {
		m.formAlone(now, id)
		return
	}
	ct := &wire.CommitToken{Ring: id, Members: make([]wire.CommitMember, len(live))}
	for i, n := range live {
		ct.Members[i].Node = n
	}
	m.fillCommit(now, ct, 0)
}

// consensusTimeout: processors that did not agree in time are declared failed; if all
// agreed but no commit token came, the representative may be gone: start a new round
// (its silence will then fail it).
func (m *Machine) consensusTimeout(now time.Duration) {
	var silent []wire.NodeID
	for _, id := range m.live() {
		if !m.consensus[id] {
			m.fail = setAdd(m.fail, id)
			silent = append(silent, id)
		}
	}
	if len(silent) > 0 {
		m.record(Transition{From: Gather, To: Gather, Ring: m.regID, Reason: "consensus timeout: no agreement from " + joinIDs(silent),
			Failure: true, Waited: m.cfg.Consensus, Suspects: silent})
	}
	m.restartGather(now)
	m.checkConsensus(now)
}
