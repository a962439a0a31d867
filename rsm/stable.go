package rsm

import (
	"slices"
)

// Stability. A replica answers a client only once every member of its view has
// delivered the message the answer is about (the command, the read, or for results
// looked up when an epoch begins, the epoch's last ack). Then, whatever partition comes
// next, every member that goes on has that message and applies it in the same place of
// the order, so no answered write is ever lost and no answered read can be contradicted.
// This is the guarantee of safe delivery, checked by the replicas themselves: each
// member, while installed, multicasts how many commands and reads of the epoch it has
// delivered (one report in flight at a time, so reports batch under load), and answers
// are released up to the lowest report. Reports travel with agreed delivery: what one
// says, that its sender delivered up to a position, is true whoever else holds it.
//
// Positions count commands and reads delivered since the epoch's round completed; every
// installed member of the view delivers the same ones in the same order, so the same
// position names the same message everywhere.
type stability struct {
	epoch    ballot
	members  []Member
	pos      uint64 // commands and reads of the epoch delivered here
	sent     uint64 // position of this replica's last report
	reported bool   // a report went out for this epoch
	inFlight bool   // and has not come back yet
	reports  map[Member]uint64
	held     []held // answers waiting for stability, in position order
}

type held struct {
	pos     uint64
	w       *waiter
	res     []byte
	err     error
	release func() // removes the waiter from the replica's tables (under mu)
}

func (s *stability) reset(epoch ballot, members []Member) {
	*s = stability{epoch: epoch, members: members, reports: make(map[Member]uint64)}
}

// low is the position every member has delivered.
func (s *stability) low() (uint64, bool) {
	low, ok := uint64(0), len(s.members) > 0
	for i, m := range s.members {
		p, has := s.reports[m]
		if !has {
			return 0, false
		}
		if i == 0 || p < low {
			low = p
		}
	}
	return low, ok
}

// holdLocked queues an answer until the current position is stable.
func (r *Replica) holdLocked(w *waiter, res []byte, err error, release func()) {
	r.stab.held = append(r.stab.held, held{pos: r.stab.pos, w: w, res: res, err: err, release: release})
}

// onStable records a member's report and releases what became stable.
func (r *Replica) onStable(from Member, m *stableMsg) {
	if m.Ballot != r.stab.epoch || !slices.Contains(r.stab.members, from) {
		return
	}
	r.stab.reports[from] = max(r.stab.reports[from], m.Pos)
	if from == r.self {
		r.stab.inFlight = false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.releaseStableLocked()
}

// releaseStableLocked answers the held waiters whose positions every member delivered.
func (r *Replica) releaseStableLocked() {
	low, ok := r.stab.low()
	if !ok {
		return
	}
	i := 0
	for ; i < len(r.stab.held) && r.stab.held[i].pos <= low; i++ {
		h := r.stab.held[i]
		finishLocked(h.w, h.res, h.err)
		h.release()
	}
	r.stab.held = slices.Delete(r.stab.held, 0, i)
}

// maybeReport sends this replica's position when it moved and no report is in flight.
func (r *Replica) maybeReport() {
	s := &r.stab
	if !r.installed || s.inFlight || (s.reported && s.pos == s.sent) {
		return
	}
	s.reported, s.inFlight, s.sent = true, true, s.pos
	r.out.sendAgreed(encode(kindStable, &stableMsg{Ballot: s.epoch, Pos: s.pos}))
}

// unhold gives up on held answers when the view changes: their messages may not have
// reached everyone. They are looked up again once this replica is ready in a new epoch.
func (r *Replica) unhold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.stab.held {
		h.w.delivered = true
	}
	r.stab.held = nil
}
