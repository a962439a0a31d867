package rsm

import (
	"context"
	"log/slog"
	"sync"
)

// outbox sends the replica's own protocol messages from a goroutine of its own, so that
// the event loop never blocks on the group's backpressure (a loop that stopped reading
// events would be cut off as a slow consumer). Control messages (hello, prepare, ack) go
// first, in order; snapshot chunks go when no control message waits. A new stream
// replaces the one before: a newer decision makes it useless.
type outbox struct {
	mu     sync.Mutex
	ctrl   [][]byte
	chunks [][]byte
	wake   chan struct{}
	log    *slog.Logger
}

func newOutbox(log *slog.Logger) *outbox { return &outbox{wake: make(chan struct{}, 1), log: log} }

func (o *outbox) send(b []byte) {
	o.mu.Lock()
	o.ctrl = append(o.ctrl, b)
	o.mu.Unlock()
	o.poke()
}

// stream replaces the snapshot being streamed (nil cancels it).
func (o *outbox) stream(chunks [][]byte) {
	o.mu.Lock()
	o.chunks = chunks
	o.mu.Unlock()
	o.poke()
}

func (o *outbox) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox) next() ([]byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b []byte
	switch {
	case len(o.ctrl) > 0:
		b, o.ctrl = o.ctrl[0], o.ctrl[1:]
	case len(o.chunks) > 0:
		b, o.chunks = o.chunks[0], o.chunks[1:]
	default:
		return nil, false
	}
	return b, true
}

// run sends until ctx ends. A failed send is dropped: it fails only when the channel is
// gone, which the event loop learns from Recv.
func (o *outbox) run(ctx context.Context, ch Channel) {
	for {
		b, ok := o.next()
		if !ok {
			select {
			case <-o.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		if err := ch.Send(ctx, b); err != nil {
			if ctx.Err() != nil {
				return
			}
			o.log.Warn("rsm: send failed", "err", err)
		}
	}
}
