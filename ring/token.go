package ring

import (
	"slices"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// StepToken handles a regular token received from the predecessor. Tokens of other rings
// and stale or duplicate copies (TokenSeq not above the last one accepted) are dropped.
//
// The caller should first step every regular message already received (drain the
// multicast socket): the token then meets a store that reflects what has arrived, fewer
// retransmissions are requested, and a slow member naturally holds the token while it
// catches up, which is Totem's flow-control brake.
func (r *Ring) StepToken(now time.Duration, t *wire.Token) {
	if t.Ring != r.id {
		r.stats.TokensForeign++
		return
	}
	if r.stopped {
		return
	}
	if r.visited && t.TokenSeq <= r.tokenSeq {
		r.stats.TokensDuplicate++
		return
	}
	if r.held != nil {
		// We hold the token: any other copy is stale.
		r.stats.TokensDuplicate++
		return
	}
	own := *t
	own.RTR = slices.Clone(t.RTR)
	r.acceptToken(now, &own)
}

// acceptToken runs one token visit: the Totem rules in the order Corosync applies them
// (totem-protocol.md §2.2), then passes the token on.
func (r *Ring) acceptToken(now time.Duration, t *wire.Token) {
	r.askAt = 0
	r.tokenBack(now)
	r.visit(now, t)
	r.pass(now, t)
	r.armAsk(now) // what this visit could not send waits for the next
}

func (r *Ring) visit(now time.Duration, t *wire.Token) {
	r.stats.TokensAccepted++
	r.visited = true
	r.noteIdle(t)

	// Everything up to the aru seen on two consecutive visits is held by every member:
	// safe to deliver as safe, and (once delivered here) safe to free.
	recvAru := t.Aru
	r.raiseSafe(min(recvAru, r.lastAru))
	r.msgs.release(min(recvAru, r.lastAru, r.highDelivered))
	prevAru := r.lastAru
	r.lastAru = recvAru

	allowed := r.allowance(t)
	resent := r.serveRetransmits(t, allowed)
	allowed -= resent
	r.requestRetransmits(t)
	// Keep every unreleased message inside every member's store window.
	if uint64(t.Seq)+uint64(allowed) > uint64(r.msgs.released)+uint64(r.cfg.StoreMax-r.cfg.WindowSize) {
		allowed = 0
	}
	sent := r.originate(t, allowed)
	r.updateFlow(t, resent+sent)
	r.updateAru(t)
	r.checkFailToReceive(now, t, prevAru)
	if r.recovering {
		r.recoveryVisit(t)
	}

	r.tokenSeq = t.TokenSeq
	t.TokenSeq++
	r.lossAt, r.tokenAt = now+r.cfg.TokenTimeout, now
	r.lossReported = false
	r.deliver()
}

// recoveryVisit applies recovery's rules to the token and reports the visit.
func (r *Ring) recoveryVisit(t *wire.Token) {
	t.RetransFlag = t.Backlog > 0
	if r.capped && t.Aru > r.aruCeiling {
		t.Aru, t.AruID = r.aruCeiling, r.cfg.Self
	}
	r.ready.Visits = append(r.ready.Visits, Visit{Seq: t.Seq, Aru: t.Aru, Backlog: t.Backlog, OwnAru: r.aru})
}

// noteIdle counts visits without new messages (for token hold).
func (r *Ring) noteIdle(t *wire.Token) {
	if t.Seq == r.lastTokenSeqNo {
		r.unchangedVisits++
		return
	}
	r.lastTokenSeqNo = t.Seq
	r.unchangedVisits = 0
	r.holdCancelSent = false
}

// allowance is the number of messages (new plus retransmitted) this visit may multicast:
// at most MaxMessages, at most what the ring's window has left this rotation, and at most
// this member's fair share of the window by backlog (Totem paper §8.2).
func (r *Ring) allowance(t *wire.Token) int {
	allowed := min(r.cfg.MaxMessages, r.cfg.WindowSize-int(t.FCC))
	if allowed <= 0 {
		return 0
	}
	cbl := len(r.queue)
	denom := int(t.Backlog) + cbl - r.pbl
	if denom > 0 {
		// The paper divides by the backlog with our stale share replaced by the current
		// one and multiplies by our current backlog; Corosync multiplies by the previous
		// one. We follow the paper. A share that rounds to zero does not limit.
		if share := r.cfg.WindowSize * cbl / denom; share > 0 && allowed > share {
			allowed = share
		}
	}
	return allowed
}

// serveRetransmits re-multicasts requested messages this member holds, up to allowed,
// and removes the requests it served. Requests for other rings stay for the membership
// layer; requests below the release point are stale and dropped.
func (r *Ring) serveRetransmits(t *wire.Token, allowed int) int {
	resent := 0
	kept := t.RTR[:0]
	for _, req := range t.RTR {
		if req.Ring == r.id {
			if req.Seq <= r.msgs.released {
				continue
			}
			if m := r.msgs.get(req.Seq); m != nil && resent < allowed {
				r.ready.Multicast = append(r.ready.Multicast, m)
				r.stats.Retransmitted++
				resent++
				continue
			}
		}
		kept = append(kept, req)
	}
	clear(t.RTR[len(kept):])
	t.RTR = kept
	return resent
}

// requestRetransmits adds to the token the messages this member has been missing for
// MissCount visits. Waiting a few visits tolerates multicast that arrives after the
// unicast token.
func (r *Ring) requestRetransmits(t *wire.Token) {
	limit := min(t.Seq, r.msgs.released+wire.Seq(r.cfg.StoreMax))
	for s := r.aru + 1; s <= limit && len(t.RTR) < r.cfg.MaxRetransmitRequests; s++ {
		if r.msgs.has(s) {
			continue
		}
		r.missed[s]++
		if r.missed[s] < r.cfg.MissCount {
			continue
		}
		req := wire.RetransmitRequest{Ring: r.id, Seq: s}
		if !slices.Contains(t.RTR, req) {
			t.RTR = append(t.RTR, req)
			r.stats.RequestedRTR++
		}
	}
}

// originate multicasts up to allowed queued messages, numbering them from the token.
func (r *Ring) originate(t *wire.Token, allowed int) int {
	n := min(allowed, len(r.queue))
	for _, p := range r.queue[:n] {
		t.Seq++
		m := &wire.Mcast{Ring: r.id, Seq: t.Seq, Origin: r.cfg.Self, Guarantee: p.guarantee, Payload: p.payload, Recovered: p.recovered}
		if p.recovered != nil {
			r.queuedRecovery--
		}
		r.msgs.put(m)
		r.ready.Multicast = append(r.ready.Multicast, m)
	}
	clear(r.queue[:n])
	r.queue = r.queue[n:]
	if len(r.queue) == 0 {
		r.queue = nil
	}
	if t.Seq > r.highSeq {
		r.highSeq = t.Seq
	}
	r.advanceAru()
	r.stats.Originated += uint64(n)
	return n
}

// updateFlow replaces this member's contribution to the token's rotation counters.
func (r *Ring) updateFlow(t *wire.Token, sentNow int) {
	cbl := len(r.queue)
	t.FCC = clampU32(int64(t.FCC) + int64(sentNow) - int64(r.trc))
	t.Backlog = clampU32(int64(t.Backlog) + int64(cbl) - int64(r.pbl))
	r.trc, r.pbl = sentNow, cbl
}

func clampU32(v int64) uint32 {
	return uint32(max(0, min(v, 1<<32-1)))
}

// updateAru lowers the token's aru to ours if we lag, or raises it if we were the member
// holding it down (or nobody was).
func (r *Ring) updateAru(t *wire.Token) {
	self := r.cfg.Self
	if r.aru < t.Aru || t.AruID == self || t.AruID == 0 {
		t.Aru = r.aru
		if r.aru >= t.Seq {
			t.AruID = 0
		} else {
			t.AruID = self
		}
	}
}

// checkFailToReceive reports FaultFailedToReceive when this member has held the ring's
// aru down, without progress, for Config.FailToReceive: some message it lacks can no
// longer reach it (the others would have re-sent it by now).
func (r *Ring) checkFailToReceive(now time.Duration, t *wire.Token, prevAru wire.Seq) {
	if t.AruID != r.cfg.Self || t.Aru != prevAru {
		r.stuck = false
		return
	}
	if !r.stuck {
		r.stuck, r.stuckSince = true, now
		return
	}
	if now-r.stuckSince >= r.cfg.FailToReceive {
		r.stuck = false
		r.ready.Faults = append(r.ready.Faults, Fault{Kind: FaultFailedToReceive})
	}
}

// pass forwards the token to the successor, or holds it when the ring is idle.
func (r *Ring) pass(now time.Duration, t *wire.Token) {
	if len(r.members) == 1 {
		r.passToSelf(now, t)
		return
	}
	if r.shouldHold(t) {
		r.held, r.holdUntil = t, now+r.cfg.Hold
		return
	}
	r.forward(now, t)
}

// shouldHold: the representative keeps an idle, fully acknowledged token for Hold instead
// of spinning it (Corosync's token hold). Failure detection is unchanged: the hold is
// shorter than TokenRetransmit, so no member's loss timer comes closer to firing. A ring
// whose token carries backlog is not idle, however long its sequence number stood
// still: a member that could not send what it holds must get the token back at once,
// not after the hold.
func (r *Ring) shouldHold(t *wire.Token) bool {
	return r.cfg.Hold > 0 && r.cfg.Self == r.Representative() &&
		r.unchangedVisits >= r.cfg.IdleVisits && len(r.queue) == 0 &&
		t.Backlog == 0 && len(t.RTR) == 0 && t.Aru == t.Seq
}

func (r *Ring) forward(now time.Duration, t *wire.Token) {
	r.lastToken = t
	r.sendToken(t)
	r.armRetransmit(now, t)
}

func (r *Ring) sendToken(t *wire.Token) {
	r.ready.Unicast = append(r.ready.Unicast, Unicast{To: r.successor, Packet: t})
}

// passToSelf runs a one-member ring: visit again while messages wait, then keep the
// token until Submit brings more. No timer is needed; nobody else can lose it.
func (r *Ring) passToSelf(now time.Duration, t *wire.Token) {
	for len(r.queue) > 0 {
		r.visit(now, t)
	}
	r.held = t
	r.holdUntil, r.lossAt, r.retransmitAt = 0, 0, 0
}
