package ring_test

import (
	"testing"

	"github.com/totem-gcs/totem/internal/simtest"
	"github.com/totem-gcs/totem/ring/ringsim"
)

// TestSimulation runs the ordering protocol over the simulated network for many seeds:
// 2 to 8 processors, 0 to 30% loss, duplication, reordering and jitter, every processor
// submitting agreed and safe messages. It asserts that every processor delivers the
// identical sequence with no gaps and no duplicates, each sender's messages in submission
// order, safe messages only once every processor holds them, and a bounded store.
func TestSimulation(t *testing.T) {
	var res ringsim.RingResult
	var virtual, ordered int64
	for _, seed := range simtest.Seeds(t, 300) {
		res = ringsim.RunRing(seed, ringsim.RingParamsFor(seed))
		virtual += int64(res.VirtualTime)
		ordered += int64(res.Ordered)
		if res.Err != nil {
			t.Errorf("seed %d (%v): %v\nreplay: %s", seed, res.Params, res.Err,
				simtest.ReplayCommand("./ring", "TestSimulation", seed))
		}
	}
	t.Logf("ordered %d messages in %.1f s of virtual time", ordered, float64(virtual)/1e9)
}

func TestSimulationIsDeterministic(t *testing.T) {
	const seed = 42
	p := ringsim.RingParamsFor(seed)
	p.Link.Loss, p.Link.Duplicate, p.Link.Reorder = 0.1, 0.05, 0.1
	a, b := ringsim.RunRing(seed, p), ringsim.RunRing(seed, p)
	if a.Err != nil || b.Err != nil {
		t.Fatalf("runs failed: %v / %v", a.Err, b.Err)
	}
	if a.Digest != b.Digest || a.VirtualTime != b.VirtualTime {
		t.Fatalf("same seed, different runs: digests %x / %x, end %v / %v", a.Digest, b.Digest, a.VirtualTime, b.VirtualTime)
	}
	c := ringsim.RunRing(seed+1, p)
	if c.Digest == a.Digest {
		t.Fatal("different seeds gave identical runs")
	}
}

// TestSimulationHeavyLoss pins the hardest corner: the largest ring at the highest loss.
func TestSimulationHeavyLoss(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		p := ringsim.RingParamsFor(seed)
		p.Nodes, p.PerNode, p.SafeRatio = 8, 50, 0.5
		p.Link.Loss, p.Link.Duplicate = 0.3, 0.1
		if res := ringsim.RunRing(seed, p); res.Err != nil {
			t.Errorf("seed %d (%v): %v", seed, p, res.Err)
		}
	}
}

// BenchmarkSimulatedOrdering measures messages ordered per second of CPU by the protocol
// alone (codec included, no sockets): a lossless simulated network, 4 processors, all
// sending agreed messages.
func BenchmarkSimulatedOrdering(b *testing.B) {
	p := ringsim.RingParams{Nodes: 4, PerNode: 2500}
	p.Link.DelayMin = 100_000 // 100µs
	b.ReportAllocs()
	var ordered int
	for b.Loop() {
		res := ringsim.RunRing(1, p)
		if res.Err != nil {
			b.Fatal(res.Err)
		}
		ordered += res.Ordered
	}
	b.ReportMetric(float64(ordered)/b.Elapsed().Seconds(), "msgs/s")
}
