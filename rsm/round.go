package rsm

import "slices"

// The state exchange. After every view change the view's leader (its lowest member)
// waits until every member has announced that view (hello), then prepares a round with
// a fresh ballot; each member whose view is that view promises it (unless it promised a
// higher one) and acks with the summary of its state; the round completes at the
// delivery of the last ack, which every member that delivers it sees at the same place
// of the order, with the same acks, so all decide alike (decide).

func (r *Replica) seenK() uint64 {
	return max(r.seen, r.promised.K, r.epoch.K, r.prepared.ballot.K)
}

func (r *Replica) noteSeen(k uint64) { r.seen = max(r.seen, k) }

// onHello records a member's view. A hello for the current view from a member that has
// not acked the round in progress means it may have missed the prepare (its view
// changed after it): prepare again.
func (r *Replica) onHello(from Member, h *helloMsg) {
	r.noteSeen(h.Seen)
	if !slices.Contains(r.view, from) {
		return
	}
	members := unpackAll(h.Members)
	r.hellos[from] = members
	if slices.Equal(members, r.view) {
		r.maybePrepare(r.missedPrepare(from))
	}
}

func (r *Replica) missedPrepare(m Member) bool {
	p := r.prepared
	if !p.ok || p.viewSeq != r.viewSeq || r.round == nil || r.round.ballot != p.ballot {
		return false
	}
	_, acked := r.round.acks[m]
	return !acked
}

// maybePrepare opens a round if this replica leads a majority view whose members have
// all announced it (force: again, with a new ballot).
func (r *Replica) maybePrepare(force bool) {
	if !r.majority || r.view[0] != r.self {
		return
	}
	if r.prepared.ok && r.prepared.viewSeq == r.viewSeq && !force {
		return
	}
	for _, m := range r.view {
		if !slices.Equal(r.hellos[m], r.view) {
			return
		}
	}
	b := ballot{K: r.seenK() + 1, Inst: r.cfg.Instance}
	r.prepared = prepared{ok: true, viewSeq: r.viewSeq, ballot: b}
	r.out.send(encode(kindPrepare, &prepareMsg{Members: packAll(r.view), Ballot: b}))
}

// onPrepare promises a round prepared for this replica's current view, and acks with
// the state's summary as of this point of the order (the same point for every member).
func (r *Replica) onPrepare(p *prepareMsg) {
	r.noteSeen(p.Ballot.K)
	members := unpackAll(p.Members)
	if !slices.Equal(members, r.view) {
		return
	}
	if !r.promised.less(p.Ballot) {
		r.out.send(encode(kindAck, &ackMsg{Ballot: p.Ballot, Reject: true, Seen: r.seenK()}))
		return
	}
	r.promised = p.Ballot
	r.round = &round{ballot: p.Ballot, members: members, acks: make(map[Member]status), viewSeq: r.viewSeq}
	st := status{Epoch: r.epoch, Synced: r.synced && r.await == nil, Applied: r.applied, Digest: r.digest}
	r.out.send(encode(kindAck, &ackMsg{Ballot: p.Ballot, Seen: r.seenK(), Status: st}))
}

// onAck collects acks of the promised round. The round is followed to its end even if
// this replica's view changed meanwhile: if any member completed it in the view it was
// prepared for (and may serve from it), every member that survives delivers the same
// acks (safe delivery) and must learn the epoch it established.
func (r *Replica) onAck(from Member, a *ackMsg) {
	r.noteSeen(max(a.Seen, a.Ballot.K))
	rd := r.round
	if rd == nil || rd.ballot != a.Ballot || !slices.Contains(rd.members, from) {
		return
	}
	if a.Reject {
		r.round = nil
		if r.prepared.ballot == a.Ballot && r.prepared.viewSeq == r.viewSeq {
			r.maybePrepare(true)
		}
		return
	}
	rd.acks[from] = a.Status
	if len(rd.acks) == len(rd.members) {
		r.round = nil
		r.complete(rd)
	}
}

// complete applies a round's decision.
func (r *Replica) complete(rd *round) {
	d := decide(r.cfg.Replicas, rd.members, rd.acks)
	if d.blocked {
		r.blocked = rd.viewSeq == r.viewSeq
		r.log.Warn("rsm: no replica of the view holds the latest state; waiting for one", "members", rd.members)
		return
	}
	r.epoch = rd.ballot
	r.installed = rd.viewSeq == r.viewSeq
	r.unhold()
	r.stab.reset(rd.ballot, rd.members)
	r.out.stream(nil)
	r.abandonTransfer()
	switch {
	case d.bootstrap, d.source == r.self, !d.needsTransfer(rd.acks[r.self]):
		r.synced, r.await = true, nil
	default:
		r.synced, r.await = false, &transfer{ballot: rd.ballot, source: d.source}
	}
	r.log.Info("rsm: epoch", "epoch", rd.ballot.K, "source", d.source, "bootstrap", d.bootstrap,
		"installed", r.installed, "synced", r.synced, "applied", r.applied)
	if d.source == r.self && d.anyTransfer(rd) {
		r.streamSnapshot(rd.ballot)
	}
	r.settleDelivered()
}
