package simnet

import (
	"fmt"
	"time"
)

const (
	// JitterCapFactor bounds the exponential jitter: a draw is capped at JitterCapFactor
	// times LinkConfig.Jitter, so that every delay has a hard upper bound
	// (LinkConfig.DelayMax) that tests and protocol timeouts can rely on. At 8 the cap
	// touches about 0.03% of draws, so the distribution keeps its long tail.
	JitterCapFactor = 8
	// DefaultQueueCap is the endpoint inbox bound used when Config.QueueCap is zero.
	DefaultQueueCap = 1024
	// linkDelayLimit rejects absurd delays before they can overflow the virtual clock.
	linkDelayLimit = time.Hour
)

// Config is a Network's fault model.
type Config struct {
	// Link is the default fate of every datagram copy; SetLink overrides one direction.
	Link LinkConfig
	// QueueCap bounds each Endpoint's Packets channel. A delivery that finds it full is
	// dropped and counted, as a socket buffer does. Zero means DefaultQueueCap.
	QueueCap int
}

// LinkConfig is the fate of datagram copies on one directed link. The zero value is a
// perfect link: no loss, no duplicates, zero delay, FIFO order.
type LinkConfig struct {
	// Loss is the probability that a copy is lost.
	Loss float64
	// Duplicate is the probability that a copy that survived loss arrives twice. The
	// second copy draws its own delay, so it may arrive before the first.
	Duplicate float64
	// DelayMin is the one-way delay every copy has at least.
	DelayMin time.Duration
	// Jitter is the mean of an exponentially distributed extra delay, capped at
	// JitterCapFactor*Jitter. Random delays are what reorder datagrams on a link.
	Jitter time.Duration
	// Reorder is the probability that a copy is held back by a further uniform delay in
	// [0, ReorderDelayMax], so that later datagrams overtake it.
	Reorder float64
	// ReorderDelayMax bounds the extra delay of a held-back copy.
	ReorderDelayMax time.Duration
}

// DelayMax is the longest one-way delay the link can give a copy: every delivery happens
// within [send+DelayMin, send+DelayMax()].
func (lc LinkConfig) DelayMax() time.Duration {
	return lc.DelayMin + JitterCapFactor*lc.Jitter + lc.ReorderDelayMax
}

// validate rejects probabilities outside [0, 1] (NaN included) and negative or absurd
// durations. A bad fault model is a test bug, so callers panic with this error.
func (lc LinkConfig) validate() error {
	probs := []struct {
		name string
		p    float64
	}{{"Loss", lc.Loss}, {"Duplicate", lc.Duplicate}, {"Reorder", lc.Reorder}}
	for _, f := range probs {
		if !(f.p >= 0 && f.p <= 1) {
			return fmt.Errorf("simnet: %s %v outside [0, 1]", f.name, f.p)
		}
	}
	durs := []struct {
		name string
		d    time.Duration
	}{{"DelayMin", lc.DelayMin}, {"Jitter", lc.Jitter}, {"ReorderDelayMax", lc.ReorderDelayMax}}
	for _, f := range durs {
		if f.d < 0 || f.d > linkDelayLimit {
			return fmt.Errorf("simnet: %s %v outside [0, %v]", f.name, f.d, linkDelayLimit)
		}
	}
	return nil
}

func (c Config) validate() error {
	if c.QueueCap < 0 {
		return fmt.Errorf("simnet: negative QueueCap %d", c.QueueCap)
	}
	return c.Link.validate()
}
