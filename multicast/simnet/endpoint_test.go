package simnet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/totem-gcs/totem/multicast"
	"github.com/totem-gcs/totem/multicast/wire"
)

// newTestEndpoints returns a network with open endpoints for nodes 1..nodes.
func newTestEndpoints(t *testing.T, cfg Config, nodes int) (*Network, []*Endpoint) {
	t.Helper()
	n := New(1, cfg)
	eps := make([]*Endpoint, nodes)
	for i := range eps {
		eps[i] = n.Endpoint(wire.NodeID(i+1), 1000)
		t.Cleanup(func() { eps[i].Close() })
	}
	return n, eps
}

// received empties an endpoint's channel without blocking.
func received(e *Endpoint) []multicast.Packet {
	var out []multicast.Packet
	for {
		select {
		case p, ok := <-e.Packets():
			if !ok {
				return out
			}
			out = append(out, p)
		default:
			return out
		}
	}
}

func TestEndpointMulticastReachesAllOthersButNotSelf(t *testing.T) {
	n, eps := newTestEndpoints(t, Config{}, 4)
	if err := eps[1].Multicast([]byte("hi")); err != nil {
		t.Fatalf("Multicast: %v", err)
	}
	n.Advance(0)
	for i, e := range eps {
		got := received(e)
		want := 1
		if i == 1 {
			want = 0
		}
		if len(got) != want {
			t.Errorf("node %d received %d packets, want %d", i+1, len(got), want)
		}
		for _, p := range got {
			if p.From != 2 || string(p.Data) != "hi" {
				t.Errorf("node %d received %+v, want hi from 2", i+1, p)
			}
		}
	}
	if s := eps[1].Stats(); s.Sent != 1 {
		t.Errorf("sender Stats.Sent = %d, want 1 multicast", s.Sent)
	}
	if s := eps[0].Stats(); s.Received != 1 {
		t.Errorf("receiver Stats.Received = %d, want 1", s.Received)
	}
}

func TestEndpointUnicastReachesOnlyItsTarget(t *testing.T) {
	n, eps := newTestEndpoints(t, Config{Link: LinkConfig{DelayMin: time.Millisecond}}, 3)
	if err := eps[0].Unicast(3, []byte("token")); err != nil {
		t.Fatalf("Unicast: %v", err)
	}
	n.Advance(time.Millisecond - 1)
	if got := received(eps[2]); len(got) != 0 {
		t.Errorf("node 3 received %d packets before the delay elapsed, want 0", len(got))
	}
	n.Advance(time.Millisecond)
	got := [][]multicast.Packet{received(eps[0]), received(eps[1]), received(eps[2])}
	if len(got[0]) != 0 || len(got[1]) != 0 || len(got[2]) != 1 || string(got[2][0].Data) != "token" {
		t.Errorf("received per node %v, want only node 3 to get the token", got)
	}
}

func TestEndpointErrors(t *testing.T) {
	tests := []struct {
		name string
		send func(e *Endpoint) error
		want error
	}{
		{"unicast to unregistered node", func(e *Endpoint) error { return e.Unicast(9, nil) }, multicast.ErrUnknownNode},
		{"unicast to node 0", func(e *Endpoint) error { return e.Unicast(0, nil) }, multicast.ErrUnknownNode},
		{"unicast above MaxPayload", func(e *Endpoint) error { return e.Unicast(2, make([]byte, 1001)) }, multicast.ErrTooLarge},
		{"multicast above MaxPayload", func(e *Endpoint) error { return e.Multicast(make([]byte, 1001)) }, multicast.ErrTooLarge},
		{"unicast at MaxPayload", func(e *Endpoint) error { return e.Unicast(2, make([]byte, 1000)) }, nil},
		{"unicast after Close", func(e *Endpoint) error { e.Close(); return e.Unicast(2, nil) }, multicast.ErrClosed},
		{"multicast after Close", func(e *Endpoint) error { e.Close(); return e.Multicast(nil) }, multicast.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, eps := newTestEndpoints(t, Config{}, 2)
			if err := tt.send(eps[0]); !errors.Is(err, tt.want) {
				t.Errorf("got error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEndpointOverflowDropsAndCounts(t *testing.T) {
	n, eps := newTestEndpoints(t, Config{QueueCap: 2}, 2)
	for i := range 5 {
		if err := eps[0].Unicast(2, fmt.Append(nil, i)); err != nil {
			t.Fatal(err)
		}
	}
	n.Advance(0)
	got := received(eps[1])
	if len(got) != 2 || string(got[0].Data) != "0" || string(got[1].Data) != "1" {
		t.Errorf("received %v, want the first 2 packets", got)
	}
	if s := eps[1].Stats(); s.Received != 2 || s.DropOverflow != 3 {
		t.Errorf("endpoint Received %d DropOverflow %d, want 2 and 3", s.Received, s.DropOverflow)
	}
	if s := n.Stats(); s.Node(2).DroppedOverflow != 3 || s.Delivered != 5 {
		t.Errorf("network DroppedOverflow %d Delivered %d, want 3 and 5", s.Node(2).DroppedOverflow, s.Delivered)
	}
}

func TestEndpointCloseClosesPacketsOnce(t *testing.T) {
	n, eps := newTestEndpoints(t, Config{}, 2)
	eps[0].Unicast(2, []byte("before close"))
	n.Advance(0)
	if err := eps[1].Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := eps[1].Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	if p, ok := <-eps[1].Packets(); !ok || string(p.Data) != "before close" {
		t.Errorf("got %+v, %v, want the packet queued before Close", p, ok)
	}
	if _, ok := <-eps[1].Packets(); ok {
		t.Error("Packets still open after Close")
	}
	eps[0].Unicast(2, []byte("after close"))
	n.Advance(0)
	if s := n.Stats(); s.Node(2).DroppedClosed != 1 {
		t.Errorf("DroppedClosed = %d, want 1 for the copy that arrived after Close", s.Node(2).DroppedClosed)
	}
}

func TestEndpointCanReopenOnlyAfterClose(t *testing.T) {
	n := New(1, Config{})
	e := n.Endpoint(1, 0)
	if got := e.MaxPayload(); got != wire.MaxDatagram {
		t.Errorf("MaxPayload = %d for maxPayload 0, want wire.MaxDatagram", got)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("second open Endpoint for node 1 did not panic")
			}
		}()
		n.Endpoint(1, 0)
	}()
	e.Close()
	n.Endpoint(1, 0).Close() // a restarted node gets a fresh transport
}

func TestEndpointIsSafeForConcurrentUse(t *testing.T) {
	const nodes, sends = 4, 200
	n, eps := newTestEndpoints(t, Config{QueueCap: nodes * sends, Link: LinkConfig{Jitter: time.Millisecond}}, nodes)
	var wg sync.WaitGroup
	for _, e := range eps {
		wg.Go(func() {
			for i := range sends {
				e.Multicast(fmt.Append(nil, i))
				e.Stats()
			}
		})
	}
	wg.Go(func() {
		for now := time.Duration(0); now < time.Second; now += time.Millisecond {
			n.Advance(now)
		}
	})
	wg.Wait()
	n.Advance(time.Hour)
	var total int
	for _, e := range eps {
		total += len(received(e))
	}
	if want := nodes * (nodes - 1) * sends; total != want {
		t.Errorf("received %d packets in total, want %d", total, want)
	}
}

func TestRunDeliversInFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, eps := newTestEndpoints(t, Config{Link: LinkConfig{DelayMin: 50 * time.Millisecond}}, 2)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- n.Run(ctx, 10*time.Millisecond) }()

		start := time.Now()
		eps[0].Unicast(2, []byte("ping"))
		p := <-eps[1].Packets()
		if elapsed := time.Since(start); string(p.Data) != "ping" || elapsed != 50*time.Millisecond {
			t.Errorf("got %q after %v, want ping after 50ms", p.Data, elapsed)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
}

func TestEndpointAndCoreShareFaults(t *testing.T) {
	n, eps := newTestEndpoints(t, Config{}, 3)
	n.Partition([]wire.NodeID{1, 2}, []wire.NodeID{3})
	eps[0].Multicast([]byte("x"))
	n.Crash(2)
	eps[2].Multicast([]byte("y"))
	n.Advance(0)
	var got []string
	for i, e := range eps {
		for _, p := range received(e) {
			got = append(got, fmt.Sprintf("%d->%d %s", p.From, i+1, p.Data))
		}
	}
	if len(got) != 0 {
		t.Errorf("deliveries %q, want none: 1->2 was in flight when 2 crashed, 3 is cut off", got)
	}
}
