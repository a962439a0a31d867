package simnet

import (
	"context"
	"fmt"
	"time"

	"github.com/totem-gcs/totem/multicast"
	"github.com/totem-gcs/totem/multicast/wire"
)

var _ multicast.Transport = (*Endpoint)(nil)

// Endpoint is one node's multicast.Transport on a Network, for testing the real node on a
// simulated network. Sends go straight into the Network at its current virtual time;
// receiving needs someone to move the clock with Advance or Run, which push arrivals into
// each Endpoint's bounded Packets channel.
//
// Packet.From is the true sender as the network knows it; unlike the UDP transport, an
// Endpoint does not parse or filter headers, so tests may feed the node any bytes.
type Endpoint struct {
	n          *Network
	id         wire.NodeID
	maxPayload int
	ch         chan multicast.Packet

	// Guarded by n.mu: Advance writes to ch and Close closes it under the same lock, so
	// a send on a closed channel cannot happen.
	closed bool
	stats  multicast.Stats
}

// Endpoint registers id if needed and returns its transport. maxPayload is what
// MaxPayload reports and the largest datagram it accepts; zero or less means
// wire.MaxDatagram. The Packets channel holds Config.QueueCap packets. It panics if id
// already has an open Endpoint.
func (n *Network) Endpoint(id wire.NodeID, maxPayload int) *Endpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	nd := n.addNode(id)
	if nd.ep != nil && !nd.ep.closed {
		panic(fmt.Sprintf("simnet: node %d already has an open endpoint", id))
	}
	if maxPayload <= 0 {
		maxPayload = wire.MaxDatagram
	}
	nd.ep = &Endpoint{
		n:          n,
		id:         id,
		maxPayload: maxPayload,
		ch:         make(chan multicast.Packet, n.cfg.QueueCap),
	}
	return nd.ep
}

// Multicast sends b to every other registered node.
func (e *Endpoint) Multicast(b []byte) error {
	return e.send(0, b)
}

// Unicast sends b to one node. It fails with multicast.ErrUnknownNode if the node is not
// registered with the Network.
func (e *Endpoint) Unicast(to wire.NodeID, b []byte) error {
	if to == 0 {
		return multicast.ErrUnknownNode
	}
	return e.send(to, b)
}

func (e *Endpoint) send(to wire.NodeID, b []byte) error {
	e.n.mu.Lock()
	defer e.n.mu.Unlock()
	switch {
	case e.closed:
		return multicast.ErrClosed
	case len(b) > e.maxPayload:
		return multicast.ErrTooLarge
	case to != 0 && e.n.byID[to] == nil:
		return multicast.ErrUnknownNode
	}
	e.n.send(e.id, to, b)
	e.stats.Sent++ // one datagram handed to the network, as with IP multicast
	return nil
}

// Packets returns the channel of received datagrams. It is closed by Close.
func (e *Endpoint) Packets() <-chan multicast.Packet { return e.ch }

// MaxPayload returns the limit given to Network.Endpoint.
func (e *Endpoint) MaxPayload() int { return e.maxPayload }

// Stats returns a snapshot of this endpoint's counters.
func (e *Endpoint) Stats() multicast.Stats {
	e.n.mu.Lock()
	defer e.n.mu.Unlock()
	return e.stats
}

// Close closes Packets. Later sends fail with multicast.ErrClosed, and copies that arrive
// for this node are dropped (counted as DroppedClosed in the Network's Stats). Closing
// twice returns nil.
func (e *Endpoint) Close() error {
	e.n.mu.Lock()
	defer e.n.mu.Unlock()
	if !e.closed {
		e.closed = true
		close(e.ch)
	}
	return nil
}

// Advance is DeliverDue for the Endpoint mode: it moves the clock to now and pushes every
// arrival into its destination's Packets channel without blocking. An arrival that finds
// the channel full is dropped and counted, as a full socket buffer drops; one for a node
// without an open Endpoint is dropped as DroppedClosed.
func (n *Network) Advance(now time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.advance(now)
}

func (n *Network) advance(now time.Duration) {
	n.due = n.appendDue(n.due[:0], now)
	for i := range n.due {
		n.handOver(&n.due[i])
	}
	clear(n.due) // let the receivers own their data alone
}

func (n *Network) handOver(d *Delivery) {
	nd := n.byID[d.To]
	ep := nd.ep
	if ep == nil || ep.closed {
		n.count(nd, cDroppedClosed)
		return
	}
	select {
	case ep.ch <- multicast.Packet{From: d.From, Data: d.Data}:
		ep.stats.Received++
	default:
		ep.stats.DropOverflow++
		n.count(nd, cDroppedOverflow)
	}
}

// Run drives the Endpoint mode in real time, or in fake time inside a testing/synctest
// bubble: every tick it moves the virtual clock forward by tick and calls Advance. It
// blocks in the caller's goroutine until ctx is done and returns ctx.Err().
func (n *Network) Run(ctx context.Context, tick time.Duration) error {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			n.mu.Lock()
			n.advance(n.now + tick)
			n.mu.Unlock()
		}
	}
}
