package totem

import "sync"

// mailbox holds a session's undelivered events between the node's loop, which must
// never block, and the session's reader. It grows with what is queued and no further:
// a session costs nothing until events wait for it, and the bound (in events and in
// payload bytes) is what cuts off a slow consumer, not a preallocated channel.
//
// The node appends under the lock; the reader takes the whole list at once and hands
// back the one it took before, so a reader that keeps up swaps two slices and
// allocates nothing.
type mailbox struct {
	maxEvents int
	maxBytes  int

	mu     sync.Mutex
	queued []Event
	bytes  int
	closed bool

	ready chan struct{} // capacity 1: events were queued, or the box closed
}

// spareLimit is the capacity beyond which a drained list is dropped rather than kept:
// after a burst the box goes back to costing little.
const spareLimit = 4096

func newMailbox(maxEvents, maxBytes int) *mailbox {
	return &mailbox{maxEvents: maxEvents, maxBytes: maxBytes, ready: make(chan struct{}, 1)}
}

// put queues ev; false if that would exceed the bound (one event always fits an empty
// box, however large) or the box is closed.
func (b *mailbox) put(ev Event) bool {
	b.mu.Lock()
	n := len(b.queued)
	if b.closed || n > 0 && (n >= b.maxEvents || b.bytes+len(ev.Data) > b.maxBytes) {
		b.mu.Unlock()
		return false
	}
	b.queued = append(b.queued, ev)
	b.bytes += len(ev.Data)
	b.mu.Unlock()
	if n == 0 {
		b.kick()
	}
	return true
}

func (b *mailbox) kick() {
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// close ends the box: take returns what is queued, then ok false.
func (b *mailbox) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.kick()
}

// take returns every queued event, oldest first, and whether the box is still open.
// The caller gives back the list it took last time (nil the first time) and must not
// use it afterwards; the events themselves are the caller's.
func (b *mailbox) take(prev []Event) (evs []Event, open bool) {
	clear(prev)
	if cap(prev) > spareLimit {
		prev = nil
	}
	b.mu.Lock()
	evs, b.queued = b.queued, prev[:0]
	b.bytes = 0
	open = !b.closed
	b.mu.Unlock()
	return evs, open || len(evs) > 0
}
