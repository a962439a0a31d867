package ring_test

import (
	"testing"

	"github.com/totem-gcs/totem/totem/totemtest"
)

// TestSimulation runs the ordering protocol over the simulated network for many seeds:
// 2 to 8 processors, 0 to 30% loss, duplication, reordering and jitter, every processor
// submitting agreed and safe messages. It asserts that every processor delivers the
// identical sequence with no gaps and no duplicates, each sender's messages in submission
// order, safe messages only once every processor holds them, and a bounded store.
func TestSimulation(t *testing.T) {
	var res totemtest.RingResult
	var virtual, ordered int64
	for _, seed := range totemtest.Seeds(t, 300) {
		res = totemtest.RunRing(seed, totemtest.RingParamsFor(seed))
		virtual += int64(res.VirtualTime)
		ordered += int64(res.Ordered)
		if res.Err != nil {
			t.Errorf("seed %d (%v): %v\nreplay: %s", seed, res.Params, res.Err,
				totemtest.ReplayCommand("./ring", "TestSimulation", seed))
		}
	}
	t.Logf("ordered %d messages in %.1f s of virtual time", ordered, float64(virtual)/1e9)
}

func TestSimulationIsDeterministic(t *testing.T) {
	const seed = 42
	p := totemtest.RingParamsFor(seed)
	p.Link.Loss, p.Link.Duplicate, p.Link.Reorder = 0.1, 0.05, 0.1
	a, b := totemtest.RunRing(seed, p), totemtest.RunRing(seed, p)
	if a.Err != nil || b.Err != nil {
		t.Fatalf("runs failed: %v / %v", a.Err, b.Err)
	}
	if a.Digest != b.Digest || a.VirtualTime != b.VirtualTime {
		t.Fatalf("same seed, different runs: digests %x / %x, end %v / %v", a.Digest, b.Digest, a.VirtualTime, b.VirtualTime)
	}
	c := totemtest.RunRing(seed+1, p)
	if c.Digest == a.Digest {
		t.Fatal("different seeds gave identical runs")
	}
}

// TestSimulationHeavyLoss pins the hardest corner: the largest ring at the highest loss.
func TestSimulationHeavyLoss(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		p := totemtest.RingParamsFor(seed)
		p.Nodes, p.PerNode, p.SafeRatio = 8, 50, 0.5
		p.Link.Loss, p.Link.Duplicate = 0.3, 0.1
		if res := totemtest.RunRing(seed, p); res.Err != nil {
			t.Errorf("seed %d (%v): %v", seed, p, res.Err)
		}
	}
}

// BenchmarkSimulatedOrdering measures messages ordered per second of CPU by the protocol
// alone (codec included, no sockets): a lossless simulated network, 4 processors, all
// sending agreed messages.
func BenchmarkSimulatedOrdering(b *testing.B) {
	p := totemtest.RingParams{Nodes: 4, PerNode: 2500}
	p.Link.DelayMin = 100_000 // 100µs
	b.ReportAllocs()
	var ordered int
	for b.Loop() {
		res := totemtest.RunRing(1, p)
		if res.Err != nil {
			b.Fatal(res.Err)
		}
		ordered += res.Ordered
	}
	b.ReportMetric(float64(ordered)/b.Elapsed().Seconds(), "msgs/s")
}
