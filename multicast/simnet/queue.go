package simnet

import (
	"bytes"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// payload is the network's private copy of one Send's data, shared by every copy of that
// datagram still in flight. Receivers own what they are given, so each delivery but the
// last takes a fresh copy and the last one takes the buffer itself: a unicast costs one
// allocation, a multicast to k nodes at most k.
type payload struct {
	data []byte
	refs int // copies in flight that point here
}

// take hands the data to a receiver and releases one reference.
func (p *payload) take() []byte {
	p.refs--
	if p.refs == 0 {
		d := p.data
		p.data = nil
		return d
	}
	return bytes.Clone(p.data)
}

// release forgets one in-flight copy that will never be delivered.
func (p *payload) release() {
	p.refs--
	if p.refs == 0 {
		p.data = nil
	}
}

// flight is one datagram copy on its way.
type flight struct {
	at     time.Duration // virtual time of arrival
	seq    uint64        // enqueue order; breaks ties in at so the order is total
	sentAt time.Duration
	from   wire.NodeID
	to     wire.NodeID
	p      *payload
}

func (f *flight) before(g *flight) bool {
	if f.at != g.at {
		return f.at < g.at
	}
	return f.seq < g.seq
}

// queue is a binary min-heap of flights ordered by (at, seq). It is hand-written rather
// than container/heap so that pushing and popping values does not box them in interfaces.
type queue []flight

func (q queue) len() int { return len(q) }

func (q queue) peek() *flight { return &q[0] }

func (q *queue) push(f flight) {
	*q = append(*q, f)
	q.up(len(*q) - 1)
}

func (q *queue) pop() flight {
	h := *q
	last := len(h) - 1
	h[0], h[last] = h[last], h[0]
	f := h[last]
	h[last] = flight{} // do not keep the payload reachable from the spare capacity
	*q = h[:last]
	q.down(0)
	return f
}

// removeIf drops every flight for which drop returns true, handing each to gone, and
// restores the heap. It is O(n) and meant for rare events such as a crash.
func (q *queue) removeIf(drop func(*flight) bool, gone func(flight)) {
	h := *q
	kept := h[:0]
	for i := range h {
		if drop(&h[i]) {
			gone(h[i])
			continue
		}
		kept = append(kept, h[i])
	}
	clear(h[len(kept):])
	*q = kept
	for i := len(kept)/2 - 1; i >= 0; i-- {
		q.down(i)
	}
}

func (q queue) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !q[i].before(&q[parent]) {
			return
		}
		q[i], q[parent] = q[parent], q[i]
		i = parent
	}
}

func (q queue) down(i int) {
	for {
		least := i
		for _, c := range [2]int{2*i + 1, 2*i + 2} {
			if c < len(q) && q[c].before(&q[least]) {
				least = c
			}
		}
		if least == i {
			return
		}
		q[i], q[least] = q[least], q[i]
		i = least
	}
}
