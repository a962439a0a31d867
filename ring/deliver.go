package ring

import (
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// StepMcast handles a regular message. A message of another ring is reported as
// FaultForeign (the membership layer decides what to do); duplicates and messages outside
// the store window are counted and dropped.
func (r *Ring) StepMcast(now time.Duration, m *wire.Mcast) {
	if m.Ring != r.id {
		r.ready.Faults = append(r.ready.Faults, Fault{Kind: FaultForeign, From: m.Origin, Ring: m.Ring})
		return
	}
	r.stats.McastsReceived++
	if m.Seq == 0 || m.Seq > r.msgs.released+wire.Seq(r.cfg.StoreMax) {
		r.stats.McastsOutOfWindow++
		return
	}
	if r.lastToken != nil && m.Seq > r.lastToken.Seq && !r.stopped {
		// Only a token holder after us could have numbered it: our successor has the
		// token, so stop re-sending our copy (Totem paper §5.2).
		r.retransmitAt = 0
	}
	if !r.msgs.put(m) {
		r.stats.McastsDuplicate++
		return
	}
	delete(r.missed, m.Seq)
	if m.Seq > r.highSeq {
		r.highSeq = m.Seq
	}
	r.advanceAru()
	r.deliver()
}

// advanceAru moves aru over every contiguous received message.
func (r *Ring) advanceAru() {
	for r.msgs.has(r.aru + 1) {
		r.aru++
		delete(r.missed, r.aru)
	}
}

// raiseSafe records that every member holds 1..s.
func (r *Ring) raiseSafe(s wire.Seq) {
	if s > r.safeUpTo {
		r.safeUpTo = s
	}
}

// deliver hands out, in sequence order and without gaps, every received message up to the
// first safe message not yet known to be held by every member.
func (r *Ring) deliver() {
	if len(r.members) == 1 {
		r.raiseSafe(r.aru)
	}
	for r.highDelivered < r.aru {
		s := r.highDelivered + 1
		m := r.msgs.get(s)
		if m == nil {
			// Released implies delivered everywhere; unreachable while highDelivered < aru.
			panic("ring: message below aru missing from store")
		}
		if m.Guarantee == wire.Safe && s > r.safeUpTo {
			return
		}
		r.ready.Deliver = append(r.ready.Deliver, m)
		r.highDelivered = s
		r.stats.Delivered++
		if m.Guarantee == wire.Safe {
			r.stats.SafeDelivered++
		}
	}
}
