package simnet

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// newTestNetwork returns a network with nodes 1..nodes registered.
func newTestNetwork(t testing.TB, seed uint64, cfg Config, nodes int) *Network {
	t.Helper()
	n := New(seed, cfg)
	for id := 1; id <= nodes; id++ {
		n.AddNode(wire.NodeID(id))
	}
	return n
}

// drain delivers everything in flight, moving the clock as far as needed.
func drain(n *Network) []Delivery {
	var out []Delivery
	for {
		at, ok := n.NextDue()
		if !ok {
			return out
		}
		out = append(out, n.DeliverDue(at)...)
	}
}

// balanced checks the conservation law documented on Counters, for the totals and for
// the per-node counters summed.
func balanced(t *testing.T, s Stats) {
	t.Helper()
	c := s.Counters
	in := c.Sent + c.Duplicated
	out := c.Delivered + c.DroppedLoss + c.DroppedPartition + c.DroppedCrash + c.DroppedUnknown + uint64(s.InFlight)
	if in != out {
		t.Errorf("Sent+Duplicated = %d, want Delivered+drops+InFlight = %d (%+v, in flight %d)", in, out, c, s.InFlight)
	}
	var sum Counters
	for _, ns := range s.Nodes {
		sum.Sent += ns.Sent
		sum.Delivered += ns.Delivered
		sum.DroppedLoss += ns.DroppedLoss
		sum.DroppedPartition += ns.DroppedPartition
		sum.DroppedCrash += ns.DroppedCrash
		sum.DroppedUnknown += ns.DroppedUnknown
		sum.Duplicated += ns.Duplicated
		sum.DroppedOverflow += ns.DroppedOverflow
		sum.DroppedClosed += ns.DroppedClosed
	}
	if sum != c {
		t.Errorf("per-node counters sum to %+v, want totals %+v", sum, c)
	}
}

// chaos is a fault model with every knob turned on.
var chaos = Config{Link: LinkConfig{
	Loss:            0.1,
	Duplicate:       0.05,
	DelayMin:        time.Millisecond,
	Jitter:          2 * time.Millisecond,
	Reorder:         0.1,
	ReorderDelayMax: 10 * time.Millisecond,
}}

// runScenario drives a 5-node network through sends, partitions, cuts, crashes and
// restarts, all chosen by a workload generator seeded independently of the network, and
// returns the deliveries and digest.
func runScenario(t *testing.T, seed uint64) ([]Delivery, [32]byte) {
	t.Helper()
	const nodes = 5
	n := newTestNetwork(t, seed, chaos, nodes)
	n.SetLink(1, 2, LinkConfig{Loss: 0.5, DelayMin: 3 * time.Millisecond, Jitter: time.Millisecond})
	work := rand.New(rand.NewPCG(42, 42))
	var trace []Delivery
	for tick := range 400 {
		trace = append(trace, n.DeliverDue(time.Duration(tick)*time.Millisecond)...)
		switch tick {
		case 100:
			n.Partition([]wire.NodeID{1, 2, 3}, []wire.NodeID{4, 5})
		case 150:
			n.Cut(3, 1)
		case 200:
			n.Heal()
			n.Crash(4)
		case 250:
			n.Restart(4)
		}
		for range 3 {
			from := wire.NodeID(1 + work.IntN(nodes))
			to := wire.NodeID(work.IntN(nodes + 1)) // 0 is multicast
			n.Send(from, to, fmt.Appendf(nil, "tick %d from %d to %d", tick, from, to))
		}
	}
	trace = append(trace, drain(n)...)
	balanced(t, n.Stats())
	return trace, n.Digest()
}

func TestSameSeedGivesIdenticalRuns(t *testing.T) {
	trace1, digest1 := runScenario(t, 7)
	trace2, digest2 := runScenario(t, 7)
	if len(trace1) == 0 {
		t.Fatal("scenario delivered nothing")
	}
	if digest1 != digest2 {
		t.Errorf("digests differ: %x vs %x", digest1, digest2)
	}
	if len(trace1) != len(trace2) {
		t.Fatalf("got %d and %d deliveries, want equal", len(trace1), len(trace2))
	}
	for i := range trace1 {
		a, b := trace1[i], trace2[i]
		if a.At != b.At || a.SentAt != b.SentAt || a.From != b.From || a.To != b.To || !bytes.Equal(a.Data, b.Data) {
			t.Fatalf("delivery %d differs: %+v vs %+v", i, a, b)
		}
	}
}

func TestDifferentSeedGivesDifferentRun(t *testing.T) {
	_, digest1 := runScenario(t, 7)
	_, digest2 := runScenario(t, 8)
	if digest1 == digest2 {
		t.Errorf("seeds 7 and 8 gave the same digest %x", digest1)
	}
}

// binomialTolerance is how far an observed rate over n trials may stray from p: five
// standard deviations, so a correct implementation fails about once in 1.7 million seeds.
func binomialTolerance(p float64, n int) float64 {
	return 5 * math.Sqrt(p*(1-p)/float64(n))
}

func TestLossRateMatchesConfig(t *testing.T) {
	const sends = 20000
	for _, p := range []float64{0, 0.01, 0.2, 0.5, 0.9, 1} {
		t.Run(fmt.Sprintf("loss=%v", p), func(t *testing.T) {
			n := newTestNetwork(t, 1, Config{Link: LinkConfig{Loss: p}}, 2)
			for range sends {
				n.Send(1, 2, []byte("x"))
			}
			got := drain(n)
			s := n.Stats()
			rate := float64(s.DroppedLoss) / sends
			if tol := binomialTolerance(p, sends); math.Abs(rate-p) > tol {
				t.Errorf("loss rate %.4f, want %v ± %.4f", rate, p, tol)
			}
			if uint64(len(got)) != sends-s.DroppedLoss {
				t.Errorf("delivered %d, want %d sent minus %d lost", len(got), sends, s.DroppedLoss)
			}
			balanced(t, s)
		})
	}
}

func TestDuplicateRateMatchesConfig(t *testing.T) {
	const sends = 20000
	tests := []struct {
		name      string
		loss, dup float64
	}{
		{"dup=0", 0, 0},
		{"dup=0.05", 0, 0.05},
		{"dup=0.3", 0, 0.3},
		{"dup=1", 0, 1},
		{"dup=0.3 of survivors at loss=0.5", 0.5, 0.3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNetwork(t, 2, Config{Link: LinkConfig{Loss: tt.loss, Duplicate: tt.dup}}, 2)
			for range sends {
				n.Send(1, 2, []byte("x"))
			}
			got := drain(n)
			s := n.Stats()
			survivors := int(s.Sent - s.DroppedLoss)
			rate := float64(s.Duplicated) / float64(survivors)
			if tol := binomialTolerance(tt.dup, survivors); math.Abs(rate-tt.dup) > tol {
				t.Errorf("duplicate rate %.4f of %d survivors, want %v ± %.4f", rate, survivors, tt.dup, tol)
			}
			if want := survivors + int(s.Duplicated); len(got) != want {
				t.Errorf("delivered %d, want %d survivors plus %d duplicates", len(got), survivors, s.Duplicated)
			}
		})
	}
}

func TestDeliveryTimeWithinDelayBounds(t *testing.T) {
	tests := []struct {
		name string
		lc   LinkConfig
	}{
		{"perfect link", LinkConfig{}},
		{"fixed delay", LinkConfig{DelayMin: 5 * time.Millisecond}},
		{"jitter only", LinkConfig{Jitter: time.Millisecond}},
		{"delay and jitter", LinkConfig{DelayMin: 2 * time.Millisecond, Jitter: 500 * time.Microsecond}},
		{"reorder", LinkConfig{DelayMin: time.Millisecond, Reorder: 0.3, ReorderDelayMax: 20 * time.Millisecond}},
		{"everything", chaos.Link},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNetwork(t, 3, Config{Link: tt.lc}, 3)
			var got []Delivery
			for i := range 5000 {
				n.Send(1, wire.NodeID(i%3), []byte("x")) // 0 multicasts
				got = append(got, n.DeliverDue(time.Duration(i)*100*time.Microsecond)...)
			}
			got = append(got, drain(n)...)
			lo, hi := tt.lc.DelayMin, tt.lc.DelayMax()
			for _, d := range got {
				if delay := d.At - d.SentAt; delay < lo || delay > hi {
					t.Fatalf("delivery sent at %v arrived at %v: delay %v outside [%v, %v]", d.SentAt, d.At, delay, lo, hi)
				}
			}
		})
	}
}

func TestJitterMeanMatchesConfig(t *testing.T) {
	const sends = 20000
	const jitter = time.Millisecond
	n := newTestNetwork(t, 4, Config{Link: LinkConfig{DelayMin: time.Millisecond, Jitter: jitter}}, 2)
	for range sends {
		n.Send(1, 2, nil)
	}
	var sum time.Duration
	for _, d := range drain(n) {
		sum += d.At - d.SentAt - time.Millisecond
	}
	// An exponential's standard deviation equals its mean; the cap shifts the mean by a
	// factor of e^-8, far inside the tolerance.
	mean := float64(sum) / sends
	if tol := 5 * float64(jitter) / math.Sqrt(sends); math.Abs(mean-float64(jitter)) > tol {
		t.Errorf("mean jitter %v, want %v ± %v", time.Duration(mean), jitter, time.Duration(tol))
	}
}

// inversions counts deliveries whose payload index is below one delivered earlier.
func inversions(ds []Delivery) int {
	count, highest := 0, -1
	for _, d := range ds {
		i, _ := strconv.Atoi(string(d.Data))
		if i < highest {
			count++
		}
		highest = max(highest, i)
	}
	return count
}

func TestRandomDelaysReorderAndFixedDelaysDoNot(t *testing.T) {
	tests := []struct {
		name    string
		lc      LinkConfig
		reorder bool
	}{
		{"perfect link is FIFO", LinkConfig{}, false},
		{"fixed delay is FIFO", LinkConfig{DelayMin: 3 * time.Millisecond}, false},
		{"jitter reorders", LinkConfig{Jitter: time.Millisecond}, true},
		{"reorder knob reorders", LinkConfig{Reorder: 0.1, ReorderDelayMax: time.Millisecond}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNetwork(t, 5, Config{Link: tt.lc}, 2)
			var got []Delivery
			for i := range 1000 { // sends spaced 10µs apart
				n.Send(1, 2, fmt.Append(nil, i))
				got = append(got, n.DeliverDue(n.Now()+10*time.Microsecond)...)
			}
			got = append(got, drain(n)...)
			if inv := inversions(got); (inv > 0) != tt.reorder {
				t.Errorf("got %d out-of-order deliveries, want reordering %v", inv, tt.reorder)
			}
		})
	}
}

func TestDeliverDueOrdersByArrivalThenSendOrder(t *testing.T) {
	n := newTestNetwork(t, 6, Config{}, 3)
	n.SetLink(1, 2, LinkConfig{DelayMin: 5 * time.Millisecond})
	n.SetLink(1, 3, LinkConfig{DelayMin: time.Millisecond})
	n.Send(1, 2, []byte("a"))
	n.Send(1, 3, []byte("b"))
	n.Send(2, 3, []byte("c")) // default link: zero delay
	n.Send(3, 2, []byte("d"))
	n.Send(1, 3, []byte("e"))
	got := n.DeliverDue(10 * time.Millisecond)
	var order string
	for _, d := range got {
		order += string(d.Data)
	}
	if want := "cdbea"; order != want {
		t.Errorf("delivery order %q, want %q", order, want)
	}
}

func TestDeliverDueWaitsForArrivalTime(t *testing.T) {
	n := newTestNetwork(t, 6, Config{Link: LinkConfig{DelayMin: 5 * time.Millisecond}}, 2)
	n.Send(1, 2, []byte("x"))
	if at, ok := n.NextDue(); !ok || at != 5*time.Millisecond {
		t.Errorf("NextDue = %v, %v, want 5ms, true", at, ok)
	}
	if got := n.DeliverDue(5*time.Millisecond - 1); len(got) != 0 {
		t.Errorf("delivered %d copies before the arrival time, want 0", len(got))
	}
	if got := n.DeliverDue(5 * time.Millisecond); len(got) != 1 || got[0].At != 5*time.Millisecond {
		t.Errorf("got %+v at the arrival time, want one delivery at 5ms", got)
	}
	if _, ok := n.NextDue(); ok {
		t.Error("NextDue reports a copy in flight after everything was delivered")
	}
}

func TestDeliverDueNeverMovesClockBackwards(t *testing.T) {
	n := newTestNetwork(t, 6, Config{Link: LinkConfig{DelayMin: time.Millisecond}}, 2)
	n.DeliverDue(10 * time.Millisecond)
	n.DeliverDue(3 * time.Millisecond)
	if now := n.Now(); now != 10*time.Millisecond {
		t.Fatalf("Now = %v after DeliverDue(10ms) then DeliverDue(3ms), want 10ms", now)
	}
	n.Send(1, 2, nil)
	if got := drain(n); len(got) != 1 || got[0].SentAt != 10*time.Millisecond || got[0].At != 11*time.Millisecond {
		t.Errorf("got %+v, want one copy sent at 10ms arriving at 11ms", got)
	}
}

func TestMulticastReachesEveryOtherNodeOnce(t *testing.T) {
	n := newTestNetwork(t, 6, Config{}, 4)
	n.Send(2, 0, []byte("hello"))
	got := drain(n)
	var to []wire.NodeID
	for _, d := range got {
		if d.From != 2 || string(d.Data) != "hello" {
			t.Errorf("got %+v, want hello from 2", d)
		}
		to = append(to, d.To)
	}
	if fmt.Sprint(to) != "[1 3 4]" {
		t.Errorf("multicast from 2 reached %v, want [1 3 4]", to)
	}
}

func TestUnicastToSelfIsDelivered(t *testing.T) {
	n := newTestNetwork(t, 6, Config{}, 1)
	n.Partition() // isolates every node from every other, never from itself
	n.Send(1, 1, []byte("token"))
	if got := drain(n); len(got) != 1 || got[0].To != 1 {
		t.Errorf("got %+v, want the token back at node 1", got)
	}
}

func TestReceiversOwnTheirData(t *testing.T) {
	n := newTestNetwork(t, 6, Config{Link: LinkConfig{Duplicate: 1}}, 3)
	buf := []byte("original")
	n.Send(1, 0, buf)
	copy(buf, "CLOBBERD") // the sender reuses its buffer at once
	got := drain(n)
	if len(got) != 4 {
		t.Fatalf("got %d deliveries, want 2 nodes times 2 copies", len(got))
	}
	got[0].Data[0] = 'X' // one receiver scribbles on its copy
	for _, d := range got[1:] {
		if string(d.Data) != "original" {
			t.Errorf("node %d got %q, want %q", d.To, d.Data, "original")
		}
	}
}

func TestSendToUnknownNodeIsCounted(t *testing.T) {
	n := newTestNetwork(t, 6, Config{}, 2)
	n.Send(1, 9, []byte("x"))
	s := n.Stats()
	if s.DroppedUnknown != 1 || s.Node(1).DroppedUnknown != 1 {
		t.Errorf("DroppedUnknown total %d, node 1 %d, want 1 and 1", s.DroppedUnknown, s.Node(1).DroppedUnknown)
	}
	balanced(t, s)
}

func TestMisuseOfNodeIDsPanics(t *testing.T) {
	tests := []struct {
		name string
		call func(n *Network)
	}{
		{"send from unregistered node", func(n *Network) { n.Send(9, 1, nil) }},
		{"register node 0", func(n *Network) { n.AddNode(0) }},
		{"crash unregistered node", func(n *Network) { n.Crash(9) }},
		{"restart unregistered node", func(n *Network) { n.Restart(9) }},
		{"node in two partition groups", func(n *Network) { n.Partition([]wire.NodeID{1}, []wire.NodeID{1, 2}) }},
		{"invalid link", func(n *Network) { n.SetLink(1, 2, LinkConfig{Loss: -1}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNetwork(t, 6, Config{}, 2)
			defer func() {
				if recover() == nil {
					t.Error("did not panic")
				}
			}()
			tt.call(n)
		})
	}
}

func TestSetLinkOverridesOneDirection(t *testing.T) {
	n := newTestNetwork(t, 6, Config{}, 2)
	n.SetLink(1, 2, LinkConfig{Loss: 1})
	n.Send(1, 2, []byte("lost"))
	n.Send(2, 1, []byte("kept"))
	if got := drain(n); len(got) != 1 || string(got[0].Data) != "kept" {
		t.Errorf("got %+v, want only 2->1 delivered", got)
	}
	n.ClearLink(1, 2)
	n.Send(1, 2, []byte("back"))
	if got := drain(n); len(got) != 1 || string(got[0].Data) != "back" {
		t.Errorf("after ClearLink got %+v, want 1->2 delivered", got)
	}
}

func TestCountersBalanceMidRun(t *testing.T) {
	n := newTestNetwork(t, 9, chaos, 4)
	for i := range 2000 {
		n.Send(wire.NodeID(1+i%4), wire.NodeID(i%6), []byte("x")) // includes unknown node 5
		n.DeliverDue(time.Duration(i) * 200 * time.Microsecond)
		switch i {
		case 500:
			n.Partition([]wire.NodeID{1, 2}, []wire.NodeID{3})
		case 900:
			n.Crash(2)
		case 1200:
			n.Heal()
			n.Cut(4, 1)
		case 1500:
			n.Restart(2)
		}
		if i%250 == 0 {
			balanced(t, n.Stats())
		}
	}
	s := n.Stats()
	if s.DroppedLoss == 0 || s.DroppedPartition == 0 || s.DroppedCrash == 0 || s.DroppedUnknown == 0 || s.Duplicated == 0 {
		t.Errorf("some fault never happened: %+v", s.Counters)
	}
}

func BenchmarkSendDeliver(b *testing.B) {
	payload := bytes.Repeat([]byte{0xAB}, 200)
	tests := []struct {
		name  string
		cfg   Config
		nodes int
		to    wire.NodeID
	}{
		{"unicast/perfect", Config{}, 2, 2},
		{"unicast/chaos", chaos, 2, 2},
		{"multicast5/perfect", Config{}, 5, 0},
		{"multicast5/chaos", chaos, 5, 0},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			n := newTestNetwork(b, 1, tt.cfg, tt.nodes)
			b.ReportAllocs()
			var now time.Duration
			for b.Loop() {
				n.Send(1, tt.to, payload)
				now += 100 * time.Microsecond
				n.DeliverDue(now)
			}
		})
	}
}
