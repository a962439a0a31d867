package ring

import (
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// The adaptive token retransmission timer (Config.TokenRetransmitMin).
//
// Totem's token is unicast and unacknowledged: a member that forwards it keeps its copy
// and sends it again when no sign arrives that the successor got it. Corosync waits a
// fixed token/4.2 (714 ms by default) for that sign, so on a lossy network every lost
// token datagram stalls the whole ring for most of a second. The wait here follows the
// rotation time this member measures instead: the time from forwarding the token to
// having it back. Its smoothed value and mean deviation are kept as TCP keeps a
// round-trip time (RFC 6298), and the wait is srtt + 4·rttvar, within
// [TokenRetransmitMin, TokenRetransmit]. Each further miss of the same token doubles the
// wait (up to TokenRetransmit), and a rotation during which we re-sent the token is not
// measured (Karn's rule: it would measure the copy, not the rotation).
//
// Re-sending is safe because every copy carries the TokenSeq of its visit: the successor
// drops a copy whose TokenSeq is not above the last one it accepted, so a spurious copy
// costs one datagram. The one wait that is not a rotation is the representative's token
// hold on an idle ring; when the token we forward could be held (the ring looked idle to
// us, see mayBeHeld), the wait is the fixed TokenRetransmit, which Hold is shorter than.

// rotationEstimate is a smoothed rotation time and its mean deviation.
type rotationEstimate struct {
	srtt, rttvar time.Duration
}

// add takes one measured rotation.
func (e *rotationEstimate) add(sample time.Duration) {
	if e.srtt == 0 {
		e.srtt, e.rttvar = sample, sample/2
		return
	}
	dev := e.srtt - sample
	if dev < 0 {
		dev = -dev
	}
	e.rttvar += (dev - e.rttvar) / 4
	e.srtt += (sample - e.srtt) / 8
}

// timeout is how long to wait for the token to come back before re-sending it.
func (e rotationEstimate) timeout(lo, hi time.Duration) time.Duration {
	if e.srtt == 0 {
		return hi // nothing measured yet: as the fixed timer
	}
	return min(max(e.srtt+4*e.rttvar, lo), hi)
}

// mayBeHeld reports whether the representative might hold the token t we forward: the
// ring looked idle to us and we numbered nothing new on this visit. The representative
// holds once it has seen IdleVisits unchanged visits, and we have then seen at least
// IdleVisits-1 (see maybeCancelHold). Its other conditions are read off the token as we
// pass it on; a later member can still make them true (serve the last retransmission
// request, raise the aru), and then our short timer fires during the hold: a few
// duplicate copies, backed off, at the start of an idle spell.
func (r *Ring) mayBeHeld(t *wire.Token) bool {
	return r.cfg.Hold > 0 && r.cfg.Self != r.Representative() &&
		r.unchangedVisits >= r.cfg.IdleVisits-1 && t.Seq == r.lastTokenSeqNo &&
		t.Backlog == 0 && len(t.RTR) == 0 && t.Aru == t.Seq
}

// wanted shortens the wait for a token that may be held once somebody asks for it (a
// TokenHoldCancel): a holder releases it now, so from here it is due within a rotation,
// and if it does not come, it was lost on the way, not held. Without this, a token lost
// on an idle ring would keep the first new message waiting the whole TokenRetransmit.
func (r *Ring) wanted(now time.Duration) {
	if r.retransmitAt == 0 || r.lastToken == nil || r.cfg.TokenRetransmitMin <= 0 || r.rotation.srtt == 0 {
		return
	}
	if due := now + r.rotation.timeout(r.cfg.TokenRetransmitMin, r.cfg.TokenRetransmit); due < r.retransmitAt {
		r.retransmitAt, r.measure = due, false
		r.retransmitWait = due - now
	}
}

// armRetransmit starts the wait for the token we just forwarded.
func (r *Ring) armRetransmit(now time.Duration, t *wire.Token) {
	r.forwardedAt, r.resent = now, false
	r.measure = r.cfg.TokenRetransmitMin > 0 && !r.mayBeHeld(t)
	r.retransmitWait = r.cfg.TokenRetransmit
	if r.measure {
		r.retransmitWait = r.rotation.timeout(r.cfg.TokenRetransmitMin, r.cfg.TokenRetransmit)
	}
	r.retransmitAt = now + r.retransmitWait
}

// tokenBack measures the rotation of the token that has just come back, unless we re-sent
// it or it may have been held on the way.
func (r *Ring) tokenBack(now time.Duration) {
	if r.forwardedAt != 0 && r.measure && !r.resent {
		sample := now - r.forwardedAt
		r.rotation.add(sample)
		r.stats.Rotations.Observe(sample)
	}
	r.forwardedAt = 0
}

// retransmitToken re-sends our copy of the token and doubles the wait for the next.
func (r *Ring) retransmitToken(now time.Duration) {
	r.stats.TokenRetransmits++
	r.resent = true
	r.sendToken(r.lastToken)
	r.retransmitWait = min(2*r.retransmitWait, r.cfg.TokenRetransmit)
	r.retransmitAt = now + r.retransmitWait
}

// Rotation is the smoothed rotation time this member measures (zero before the first
// measurement, and always without the adaptive timer).
func (r *Ring) Rotation() time.Duration { return r.rotation.srtt }
