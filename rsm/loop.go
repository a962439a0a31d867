package rsm

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// handle processes one event of the group, in the agreed order.
func (r *Replica) handle(ev Event) error {
	defer r.publish()
	defer r.maybeReport()
	if ev.View != nil {
		r.onView(ev.View)
		return nil
	}
	k, v, err := decode(ev.Data)
	if err != nil {
		r.log.Warn("rsm: dropped message", "from", ev.Sender, "err", err)
		return nil
	}
	switch m := v.(type) {
	case *cmdMsg:
		r.stab.pos++
		r.onOrdered(k, m)
	case *helloMsg:
		r.onHello(ev.Sender, m)
	case *prepareMsg:
		r.onPrepare(m)
	case *ackMsg:
		r.onAck(ev.Sender, m)
	case *chunkMsg:
		return r.onChunk(ev.Sender, m)
	case *stableMsg:
		r.onStable(ev.Sender, m)
	}
	return r.fatal
}

// cmdOverhead is what a kept command costs besides its data.
const cmdOverhead = 64

// onOrdered handles a command or a read; during a state transfer it is kept for after.
func (r *Replica) onOrdered(k kind, m *cmdMsg) {
	if r.await != nil {
		r.await.buffered = append(r.await.buffered, ordered{k, m})
		r.hold(r.await, len(m.Data)+cmdOverhead)
		return
	}
	if k == kindRead {
		r.onRead(m)
	} else {
		r.onCmd(m)
	}
}

// publish copies what callers may see, and fails waiters that can no longer be served.
func (r *Replica) publish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pub = Status{
		Self: r.self, Members: slices.Clone(r.view), Quorum: r.majority, Synced: r.synced,
		Ready: r.ready(), Epoch: r.epoch.K, Applied: r.applied, HaveView: r.view != nil,
	}
	copy(r.pub.Digest[:], r.digest)
	r.pubBlocked = r.blocked
	switch {
	case r.view != nil && !r.majority:
		r.failLocked(ErrNoQuorum)
	case r.blocked:
		r.failLocked(ErrNotReady)
	}
}

// ready says whether this replica may answer clients: it completed the current epoch's
// round in its current view (installed), holds that epoch's state (synced), and the view
// is a majority.
func (r *Replica) ready() bool { return r.installed && r.synced && r.majority && !r.blocked }

// onView starts a new view: stop serving until a state exchange completes in it.
func (r *Replica) onView(v *View) {
	r.view = sortedMembers(v.Members)
	r.viewSeq++
	r.installed, r.blocked = false, false
	r.unhold()
	r.majority = slices.Contains(r.view, r.self) && hasQuorum(len(r.view), r.cfg.Replicas)
	for m := range r.hellos {
		if !slices.Contains(r.view, m) {
			delete(r.hellos, m)
		}
	}
	r.log.Info("rsm: view", "members", r.view, "quorum", r.majority, "joined", v.Joined, "left", v.Left)
	r.out.send(encode(kindHello, &helloMsg{Members: packAll(r.view), Seen: r.seenK()}))
	r.maybePrepare(false)
}

// onCmd applies a command if this replica holds the state (whether or not it may answer
// clients), buffers it during a state transfer, and answers its waiters.
func (r *Replica) onCmd(c *cmdMsg) {
	if !r.synced {
		r.settleCmd(c, nil, nil, false)
		return
	}
	res, err := r.apply(c)
	r.settleCmd(c, res, err, r.ready())
}

// apply runs one command through the duplicate filter and the state machine.
func (r *Replica) apply(c *cmdMsg) ([]byte, error) {
	r.applied++
	r.digest = chain(r.digest, c)
	switch res, st := r.dedup.check(c.Client, c.Seq); st {
	case dupCached:
		return res, nil
	case dupExpired:
		return nil, ErrExpired
	}
	res := r.sm.Apply(c.Data)
	r.dedup.record(c.Client, c.Seq, res, r.applied)
	return res, nil
}

// chain extends the digest with one command: equal digests, same command sequence.
func chain(prev []byte, c *cmdMsg) []byte {
	h := sha256.New()
	h.Write(prev)
	var ids [16]byte
	binary.BigEndian.PutUint64(ids[:8], c.Client)
	binary.BigEndian.PutUint64(ids[8:], c.Seq)
	h.Write(ids[:])
	h.Write(c.Data)
	return h.Sum(nil)
}

// settleCmd holds the command's answers for stability when this replica may answer
// (ok), or marks them delivered so that the result is looked up once it is ready.
func (r *Replica) settleCmd(c *cmdMsg, res []byte, err error, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := cmdKey{c.Client, c.Seq}
	for _, w := range r.cmds[k] {
		if ok {
			r.holdLocked(w, res, err, func() { r.removeCmdLocked(k, w) })
		} else {
			w.delivered = true
		}
	}
}

func (r *Replica) removeCmdLocked(k cmdKey, w *waiter) {
	ws := slices.DeleteFunc(r.cmds[k], func(x *waiter) bool { return x == w })
	if len(ws) == 0 {
		delete(r.cmds, k)
	} else {
		r.cmds[k] = ws
	}
}

func (r *Replica) removeReadLocked(seq uint64, w *waiter) {
	if r.reads[seq] == w {
		delete(r.reads, seq)
	}
}

// onRead answers this replica's own read at its place in the order.
func (r *Replica) onRead(c *cmdMsg) {
	if c.Client != r.cfg.ClientID {
		return
	}
	ready := r.ready()
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.reads[c.Seq]
	switch {
	case w == nil:
	case ready:
		r.holdLocked(w, r.qry.Query(w.query), nil, func() { r.removeReadLocked(c.Seq, w) })
	default:
		w.delivered = true
	}
}

// settleDelivered answers, once this replica is ready, the waiters whose messages were
// ordered while it was not: a command's result is whatever the primary component's
// state recorded for it (absent: it is not part of that history), a read is evaluated
// now (a point between its call and its return, on the primary's state). The answers
// are held until the current position is stable like any other.
func (r *Replica) settleDelivered() {
	if !r.ready() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, ws := range r.cmds {
		res, st := r.dedup.check(k.client, k.seq)
		for _, w := range ws {
			if w.delivered {
				w.delivered = false
				v, err := lookupResult(res, st)
				r.holdLocked(w, v, err, func() { r.removeCmdLocked(k, w) })
			}
		}
	}
	for seq, w := range r.reads {
		if w.delivered {
			w.delivered = false
			r.holdLocked(w, r.qry.Query(w.query), nil, func() { r.removeReadLocked(seq, w) })
		}
	}
	// The position may be stable already: after a state transfer, every member may have
	// reported the epoch's start long before, and no further report need ever come (a
	// quiet group). Found by the replica simulation (TestReplicaRegressions):
	// the answers waited for traffic that never came.
	r.releaseStableLocked()
}

func lookupResult(res []byte, st dupState) ([]byte, error) {
	switch st {
	case dupCached:
		return res, nil
	case dupExpired:
		return nil, ErrExpired
	}
	return nil, ErrNoQuorum
}
