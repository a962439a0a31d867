package rsm

import (
	"context"
	"fmt"
	"slices"
)

// Command is a command with its duplicate-suppression identity. A client numbers its
// commands with increasing Seq; a command whose Seq is at or below the highest its
// client has had applied is a duplicate, never applied twice.
type Command struct {
	Client uint64
	Seq    uint64
	Data   []byte
}

// Propose applies cmd through the agreed order and returns the result of Apply at this
// replica. It returns once the command is applied here, which is what gives the state
// machine approach its order: one caller's sequential Proposes are applied in the order
// it made them, and a command proposed after a caller saw another's result (from any
// replica) is ordered after it, since it is only sent once that one is applied.
//
// It fails fast with ErrNoQuorum in a minority and ErrNotReady before this replica holds
// the state; after the command is sent, ErrNoQuorum means its outcome is unknown.
// Concurrent Proposes are fine; they share this replica's client id.
func (r *Replica) Propose(ctx context.Context, cmd []byte) ([]byte, error) {
	c, w, err := r.proposeCmd(ctx, cmd, nil)
	if err != nil {
		return nil, err
	}
	return r.wait(ctx, w, func() { r.dropCmd(c, w) })
}

// ProposeAsync is Propose without the wait: it sends cmd and returns; done is called
// once with what Propose would have returned, from within the Step that settles it
// (with the replica's lock held: done must not call the replica). It is for a replica
// driven by Step, whose caller cannot block; an error means nothing was sent and done
// will not be called.
func (r *Replica) ProposeAsync(cmd []byte, done func(res []byte, err error)) error {
	_, _, err := r.proposeCmd(context.Background(), cmd, done)
	return err
}

// proposeCmd numbers cmd with this replica's client id, registers its waiter (with
// notify, for ProposeAsync) and sends it; on an error nothing stays registered.
func (r *Replica) proposeCmd(ctx context.Context, cmd []byte, notify func([]byte, error)) (Command, *waiter, error) {
	r.sendMu.Lock()
	r.nextSeq++
	c := Command{Client: r.cfg.ClientID, Seq: r.nextSeq, Data: cmd}
	w, err := r.registerCmd(c, notify)
	if err == nil {
		err = r.send(ctx, kindCmd, c)
	}
	r.sendMu.Unlock()
	if err != nil {
		r.dropCmd(c, w)
		return c, nil, err
	}
	return c, w, nil
}

// Do is Propose for a command that carries its own client id and sequence number: a
// client that got no answer retries the same Command, here or at another replica, and
// it is applied at most once (the cached result is returned, see Config.MaxClients and
// ResultsPerClient for how long).
func (r *Replica) Do(ctx context.Context, c Command) ([]byte, error) {
	w, err := r.registerCmd(c, nil)
	if err == nil {
		err = r.send(ctx, kindCmd, c)
	}
	if err != nil {
		r.dropCmd(c, w)
		return nil, err
	}
	return r.wait(ctx, w, func() { r.dropCmd(c, w) })
}

// Read answers query linearizably. The read is multicast like a command and answered
// here at its place in the agreed order, from a state that holds every command ordered
// before it; that place is between the call and the return, so the answer reflects every
// write that completed before Read was called, at any replica. With a Querier state
// machine only this replica evaluates it (Query); otherwise it is applied everywhere as
// a command. Errors are Propose's; a failed read had no effect.
func (r *Replica) Read(ctx context.Context, query []byte) ([]byte, error) {
	if r.qry == nil {
		return r.Propose(ctx, query)
	}
	w, drop, err := r.startRead(ctx, query, nil)
	if err != nil {
		return nil, err
	}
	return r.wait(ctx, w, drop)
}

// ReadAsync is Read without the wait, as ProposeAsync is Propose: done is called once,
// from within the Step that settles the read.
func (r *Replica) ReadAsync(query []byte, done func(res []byte, err error)) error {
	if r.qry == nil {
		return r.ProposeAsync(query, done)
	}
	_, _, err := r.startRead(context.Background(), query, done)
	return err
}

// startRead registers a read and sends it; drop forgets it.
func (r *Replica) startRead(ctx context.Context, query []byte, notify func([]byte, error)) (w *waiter, drop func(), err error) {
	r.readMu.Lock()
	r.nextRead++
	seq := r.nextRead
	r.readMu.Unlock()
	w = &waiter{done: make(chan struct{}), query: query, notify: notify}
	drop = func() { r.dropRead(seq, w) }
	r.mu.Lock()
	err = r.admitLocked()
	if err == nil {
		r.reads[seq] = w
	}
	r.mu.Unlock()
	if err == nil {
		err = r.send(ctx, kindRead, Command{Client: r.cfg.ClientID, Seq: seq, Data: query})
	}
	if err != nil {
		drop()
		return nil, nil, err
	}
	return w, drop, nil
}

// admitLocked fails fast when this replica cannot serve.
func (r *Replica) admitLocked() error {
	switch {
	case r.stopped:
		return ErrStopped
	case !(r.started || r.stepped) || !r.pub.HaveView:
		return ErrNotReady
	case !r.pub.Quorum:
		return ErrNoQuorum
	case !r.pub.Synced || r.pubBlocked:
		return ErrNotReady
	}
	return nil
}

func (r *Replica) registerCmd(c Command, notify func([]byte, error)) (*waiter, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.admitLocked(); err != nil {
		return nil, err
	}
	w := &waiter{done: make(chan struct{}), notify: notify}
	k := cmdKey{c.Client, c.Seq}
	r.cmds[k] = append(r.cmds[k], w)
	return w, nil
}

func (r *Replica) send(ctx context.Context, k kind, c Command) error {
	b := encode(k, &cmdMsg{Client: c.Client, Seq: c.Seq, Data: c.Data})
	if err := r.ch.Send(ctx, b); err != nil {
		return fmt.Errorf("rsm: send: %w", err)
	}
	return nil
}

func (r *Replica) wait(ctx context.Context, w *waiter, drop func()) ([]byte, error) {
	select {
	case <-w.done:
		return w.res, w.err
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}

func (r *Replica) dropCmd(c Command, w *waiter) {
	if w == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := cmdKey{c.Client, c.Seq}
	ws := slices.DeleteFunc(r.cmds[k], func(x *waiter) bool { return x == w })
	if len(ws) == 0 {
		delete(r.cmds, k)
	} else {
		r.cmds[k] = ws
	}
}

func (r *Replica) dropRead(seq uint64, w *waiter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reads[seq] == w {
		delete(r.reads, seq)
	}
}

// finishLocked answers a waiter once.
func finishLocked(w *waiter, res []byte, err error) {
	select {
	case <-w.done:
	default:
		w.res, w.err = res, err
		close(w.done)
		if w.notify != nil {
			w.notify(res, err)
		}
	}
}

// failLocked fails every waiter with err.
func (r *Replica) failLocked(err error) {
	for k, ws := range r.cmds {
		for _, w := range ws {
			finishLocked(w, nil, err)
		}
		delete(r.cmds, k)
	}
	for seq, w := range r.reads {
		finishLocked(w, nil, err)
		delete(r.reads, seq)
	}
}
