package multicast

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// chanTransport is a Transport whose received packets the test pushes in.
type chanTransport struct {
	in chan Packet
}

func newChanTransport() *chanTransport                     { return &chanTransport{in: make(chan Packet, 1024)} }
func (c *chanTransport) Multicast([]byte) error            { return nil }
func (c *chanTransport) Unicast(wire.NodeID, []byte) error { return nil }
func (c *chanTransport) Packets() <-chan Packet            { return c.in }
func (c *chanTransport) MaxPayload() int                   { return 1000 }
func (c *chanTransport) Stats() Stats                      { return Stats{} }
func (c *chanTransport) Close() error                      { close(c.in); return nil }

func pushNumbered(c *chanTransport, n int) {
	for i := range n {
		c.in <- Packet{From: 2, Data: []byte{byte(i)}}
	}
}

// drain reads every packet until the wrapper's channel closes.
func drain(t *testing.T, tr Transport) []byte {
	t.Helper()
	var got []byte
	timeout := time.After(10 * time.Second)
	for {
		select {
		case p, ok := <-tr.Packets():
			if !ok {
				return got
			}
			got = append(got, p.Data...)
		case <-timeout:
			t.Fatalf("packets still open; got %v", got)
		}
	}
}

func TestParseImpairment(t *testing.T) {
	im, err := ParseImpairment("delay=2ms, jitter=1ms,loss=0.01,dup=0.5,reorder=1,seed=7")
	want := Impairment{Delay: 2 * time.Millisecond, Jitter: time.Millisecond, Loss: 0.01, Dup: 0.5, Reorder: 1, Seed: 7}
	if err != nil || im != want {
		t.Fatalf("got %+v, %v; want %+v", im, err, want)
	}
	if again, err := ParseImpairment(im.String()); err != nil || again != im {
		t.Fatalf("String does not parse back: %q -> %+v, %v", im.String(), again, err)
	}
	for _, bad := range []string{"delay", "delay=soon", "loss=1.5", "dup=-0.1", "reorder=x", "jitter=-1ms", "wobble=1"} {
		if _, err := ParseImpairment(bad); err == nil {
			t.Errorf("%q accepted", bad)
		} else if !strings.Contains(err.Error(), "impairment") {
			t.Errorf("%q: error %q does not say what it is about", bad, err)
		}
	}
}

func TestImpairDuplicatesEveryPacketIntoItsOwnBuffer(t *testing.T) {
	c := newChanTransport()
	tr := Impair(c, Impairment{Dup: 1, Seed: 1})
	pushNumbered(c, 3)
	tr.Close()
	got := drain(t, tr)
	if !slices.Equal(got, []byte{0, 0, 1, 1, 2, 2}) {
		t.Fatalf("got %v, want each packet twice", got)
	}
}

func TestImpairLosesAndCounts(t *testing.T) {
	c := newChanTransport()
	tr := Impair(c, Impairment{Loss: 1, Seed: 1})
	pushNumbered(c, 5)
	tr.Close()
	if got := drain(t, tr); len(got) != 0 {
		t.Fatalf("got %v through total loss", got)
	}
	if n := tr.Stats().DropImpaired; n != 5 {
		t.Fatalf("DropImpaired %d, want 5", n)
	}
}

func TestImpairReorderSwapsNeighbours(t *testing.T) {
	c := newChanTransport()
	tr := Impair(c, Impairment{Reorder: 1, Seed: 1})
	pushNumbered(c, 5)
	tr.Close()
	if got := drain(t, tr); !slices.Equal(got, []byte{1, 0, 3, 2, 4}) {
		t.Fatalf("got %v, want each pair swapped (the last released at close)", got)
	}
}

func TestImpairDelaysAndJittersWithoutLosing(t *testing.T) {
	c := newChanTransport()
	tr := Impair(c, Impairment{Delay: 5 * time.Millisecond, Jitter: 4 * time.Millisecond, Seed: 3})
	start := time.Now()
	pushNumbered(c, 200)
	first := <-tr.Packets()
	if waited := time.Since(start); waited < time.Millisecond {
		t.Fatalf("the first packet came after %v, before the least delay (1ms)", waited)
	}
	got := append(first.Data, drainAfter(t, c, tr)...)
	sorted := slices.Sorted(slices.Values(got))
	for i, b := range sorted {
		if int(b) != i {
			t.Fatalf("not each of 200 packets exactly once: %v", sorted)
		}
	}
	if slices.IsSorted(got) {
		t.Errorf("jitter of 4ms on 200 packets sent at once changed no order")
	}
}

// drainAfter waits for the rest of the packets, then closes.
func drainAfter(t *testing.T, c *chanTransport, tr Transport) []byte {
	t.Helper()
	var got []byte
	for len(got) < 199 {
		select {
		case p := <-tr.Packets():
			got = append(got, p.Data...)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d packets", len(got))
		}
	}
	tr.Close()
	return append(got, drain(t, tr)...)
}

func TestImpairKeepsBatchSends(t *testing.T) {
	c := newChanTransport()
	tr := Impair(c, Impairment{})
	defer tr.Close()
	if _, ok := tr.(interface{ MulticastBatch([][]byte) error }); !ok {
		t.Fatal("an impaired transport lost MulticastBatch")
	}
	if _, ok := tr.(interface {
		UnicastBatch(wire.NodeID, [][]byte) error
	}); !ok {
		t.Fatal("an impaired transport lost UnicastBatch")
	}
}
