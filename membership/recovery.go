package membership

import (
	"slices"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/ring"
)

// recovery is the state of one Recovery attempt.
type recovery struct {
	members []wire.NodeID       // the new ring
	entries []wire.CommitMember // every member's old-ring state, from the commit token
	trans   []wire.NodeID       // members that come from our old ring: the transitional configuration
	// highDelivered is the highest old-ring seq any transitional member delivered: every
	// message up to it is delivered in the old regular configuration by all of them.
	highDelivered wire.Seq

	started  bool // representative: the first regular token was originated
	progress bool // a packet of the new ring arrived: stop re-sending the commit token

	// When to install (see recoveryVisit).
	visits       int      // token visits during this recovery
	installSeq   wire.Seq // every re-sent message has a seq at most this
	installFixed bool
	aruVisits    int // visits with token aru and my aru at least installSeq
	install      bool
}

// shiftToRecovery starts the new ring and queues the old-ring messages the other
// transitional members may lack.
func (m *Machine) shiftToRecovery(now time.Duration, ct *wire.CommitToken) {
	members := commitNodes(ct)
	r, err := ring.New(m.cfg.Ring, ct.Ring, members, now)
	if err != nil {
		// Unreachable: the commit token was validated and holds us.
		m.shiftToGather(now, "bad commit token: "+err.Error())
		return
	}
	rec := &recovery{members: members, entries: slices.Clone(ct.Members)}
	m.rec, m.cur = rec, r
	r.StartRecovery()
	m.transition(Recovery, ct.Ring, "commit token complete")

	if m.old == nil {
		return
	}
	low := m.old.HighSeq()
	for _, e := range ct.Members {
		if e.OldRing == m.regID && setHas(m.regMembers, e.Node) {
			rec.trans = append(rec.trans, e.Node)
			low = min(low, e.Aru)
			rec.highDelivered = max(rec.highDelivered, e.HighDelivered)
		}
	}
	for s := low + 1; s <= m.old.HighSeq(); s++ {
		msg := m.old.Message(s)
		if msg == nil || msg.Recovered != nil || m.lowerTransHas(s) {
			continue
		}
		r.SubmitRecovered(now, msg)
	}
}

// lowerTransHas reports whether a transitional member with a lower id than ours is
// known to hold old seq s: then it re-sends s and we need not.
func (m *Machine) lowerTransHas(s wire.Seq) bool {
	for _, e := range m.rec.entries {
		if e.Node < m.self && setHas(m.rec.trans, e.Node) && e.Aru >= s {
			return true
		}
	}
	return false
}

// recoveryVisit takes each token visit during recovery (ring.Ready.Visits) and decides
// when to install.
//
// Once the token has been round once (every member has visited and reported its queue),
// a zero Backlog means no member has old messages left to re-send: they all carry a seq
// at most the token's Seq now, which becomes installSeq. When this member and the token's
// aru have covered installSeq on two visits, every member holds every re-sent message,
// and the new ring can be installed.
//
// This replaces the paper's and Corosync's RetransFlag rule (each member sets the flag
// while its queue is non-empty, and clears it if it set it): with several members
// re-sending, two of them can clear the flag on consecutive rotations while a third still
// has messages queued, and a member then installs without them. The simulation found
// exactly that (seed 313). Backlog counts every member's queue, so it cannot be fooled.
func (m *Machine) recoveryVisit(v ring.Visit) {
	rec := m.rec
	rec.visits++
	if !rec.installFixed && rec.visits >= 2 && v.Backlog == 0 {
		rec.installSeq = v.Seq
		rec.installFixed = true
		// Messages above installSeq are sent by members that have installed the ring.
		// Until we install it too, we must not let the token's aru cover them: a member
		// delivering one as safe would otherwise do so in a configuration we may never
		// install (EVS-16, found by the simulation on seed 11243).
		m.cur.CapAru(rec.installSeq)
	}
	if !rec.installFixed {
		return
	}
	if v.OwnAru >= rec.installSeq && v.Aru >= rec.installSeq {
		rec.aruVisits++
		if rec.aruVisits >= 2 {
			rec.install = true
		}
	}
}

// formAlone forms a one-member ring at once: there is nobody to exchange with.
func (m *Machine) formAlone(now time.Duration, id wire.RingID) {
	r, err := ring.New(m.cfg.Ring, id, []wire.NodeID{m.self}, now)
	if err != nil {
		panic("membership: one-member ring: " + err.Error()) // config was validated
	}
	rec := &recovery{members: []wire.NodeID{m.self}}
	if m.old != nil {
		rec.trans = []wire.NodeID{m.self}
		rec.highDelivered = m.old.HighDelivered()
	}
	m.commitRing = id
	m.cur, m.rec = r, rec
	m.install(now)
	// The token starts at the next Tick, not now: the caller handles the configuration
	// change (and may take back or put first what it submitted) before anything is sent.
}

// install delivers the end of the old configuration and the new configuration, in EVS
// order (totem-protocol.md §4.7), and makes the new ring operational.
func (m *Machine) install(now time.Duration) {
	rec := m.rec
	id := m.cur.ID()
	if m.old != nil {
		m.deliverOldRing(rec, id)
	}
	joined := rec.members
	if m.old != nil {
		joined = setMinus(rec.members, rec.trans)
	}
	m.ready.Events = append(m.ready.Events, Event{Config: &Configuration{
		Ring: id, Members: slices.Clone(rec.members),
		Left: setMinus(m.regMembers, rec.members), Joined: joined,
		Leaving: leftOf(m.leaving, setMinus(m.regMembers, rec.members)),
	}})
	m.regID, m.regMembers = id, slices.Clone(rec.members)
	m.proc, m.fail, m.leaving = slices.Clone(rec.members), nil, nil
	m.old, m.oldHeld, m.rec = nil, nil, nil
	m.cur.EndRecovery()
	m.commitCopy, m.commitResendAt = nil, 0
	m.transition(Operational, id, "installed")
	m.mergeAt = now + m.cfg.Merge
	for _, msg := range m.newHeld {
		m.ready.Events = append(m.ready.Events, Event{Msg: msg})
	}
	m.newHeld = nil
	m.feed(now)
}

// deliverOldRing delivers what remains of the old ring: in the old regular configuration,
// everything contiguous except a safe message beyond what some transitional member
// delivered; then the transitional configuration; then the rest, skipping gaps, but after
// the first gap only messages of transitional members (a departed member's later message
// may depend on the missing one).
func (m *Machine) deliverOldRing(rec *recovery, id wire.RingID) {
	emit := func(msg *wire.Mcast) {
		if msg.Recovered == nil {
			m.ready.Events = append(m.ready.Events, Event{Msg: msg})
		}
	}
	for _, msg := range m.oldHeld {
		emit(msg)
	}
	old := m.old
	s := old.HighDelivered() + 1
	for ; s <= old.HighSeq(); s++ {
		msg := old.Message(s)
		if msg == nil || (msg.Guarantee == wire.Safe && s > rec.highDelivered) {
			break
		}
		emit(msg)
	}
	m.ready.Events = append(m.ready.Events, Event{Config: &Configuration{
		Transitional: true, Ring: id, Members: slices.Clone(rec.trans),
		Left:    setMinus(m.regMembers, rec.trans),
		Leaving: leftOf(m.leaving, setMinus(m.regMembers, rec.trans)),
	}})
	gap := false
	for ; s <= old.HighSeq(); s++ {
		msg := old.Message(s)
		if msg == nil {
			gap = true
			continue
		}
		if gap && !setHas(rec.trans, msg.Origin) {
			continue
		}
		emit(msg)
	}
}

// leftOf returns the members of left that announced a graceful leave.
func leftOf(leaving, left []wire.NodeID) []wire.NodeID {
	var out []wire.NodeID
	for _, id := range left {
		if setHas(leaving, id) {
			out = append(out, id)
		}
	}
	return out
}
