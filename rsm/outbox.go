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
	ctrl   []outMsg
	chunks [][]byte
	wake   chan struct{}
	log    *slog.Logger
}

// outMsg is a control message; agreed ones need no safe delivery.
type outMsg struct {
	b      []byte
	agreed bool
}

func newOutbox(log *slog.Logger) *outbox { return &outbox{wake: make(chan struct{}, 1), log: log} }

// send queues a control message for safe delivery.
func (o *outbox) send(b []byte) { o.queue(outMsg{b: b}) }

// sendAgreed queues a control message for agreed delivery: one whose meaning does not
// depend on every node holding it, like a stability report ("I delivered up to here").
func (o *outbox) sendAgreed(b []byte) { o.queue(outMsg{b: b, agreed: true}) }

func (o *outbox) queue(m outMsg) {
	o.mu.Lock()
	o.ctrl = append(o.ctrl, m)
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

func (o *outbox) next() (outMsg, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var m outMsg
	switch {
	case len(o.ctrl) > 0:
		m, o.ctrl = o.ctrl[0], o.ctrl[1:]
	case len(o.chunks) > 0:
		m, o.chunks = outMsg{b: o.chunks[0]}, o.chunks[1:]
	default:
		return m, false
	}
	return m, true
}

// run sends until ctx ends. A failed send is dropped: it fails only when the channel is
// gone, which the event loop learns from Recv.
func (o *outbox) run(ctx context.Context, ch Channel) {
	for {
		m, ok := o.next()
		if !ok {
			select {
			case <-o.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		send := ch.Send
		if m.agreed {
			send = func(ctx context.Context, b []byte) error { return sendAgreed(ctx, ch, b) }
		}
		if err := send(ctx, m.b); err != nil {
			if ctx.Err() != nil {
				return
			}
			o.log.Warn("rsm: send failed", "err", err)
		}
	}
}
