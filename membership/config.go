package membership

import (
	"fmt"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/ring"
)

// Config holds the membership protocol's timers and the ordering protocol's constants.
// All processors must use the same values.
type Config struct {
	// Ring configures the ordering protocol; Ring.Self is this processor. Its
	// TokenTimeout is also the membership's token loss timeout in Commit and Recovery.
	Ring ring.Config
	// Join is the interval at which a gathering processor re-multicasts its join message.
	// Corosync: join 50 ms.
	Join time.Duration
	// Consensus is how long a processor waits in Gather for every proposed member to agree
	// before it declares the silent ones failed. Corosync: 1.2 x token.
	Consensus time.Duration
	// Merge is the interval at which a ring's representative announces its ring so that
	// other rings on the network notice it and merge. Corosync: merge 200 ms.
	Merge time.Duration
}

// DefaultConfig returns Corosync-like timers for processor self: a 3 s token, 50 ms
// joins, a 3.6 s consensus timeout and 200 ms merge detection.
func DefaultConfig(self wire.NodeID) Config {
	rc := ring.DefaultConfig(self)
	return Config{
		Ring:      rc,
		Join:      50 * time.Millisecond,
		Consensus: rc.TokenTimeout * 6 / 5,
		Merge:     200 * time.Millisecond,
	}
}

// SetTokenTimeout sets the token loss timeout and derives the timers that depend on it
// as Corosync does: token retransmit = token / 4.2 (four retransmissions before loss),
// hold = 0.8 x retransmit (never longer than the retransmit), consensus = 1.2 x token.
func (c *Config) SetTokenTimeout(token time.Duration) {
	c.Ring.TokenTimeout = token
	c.Ring.TokenRetransmit = token * 10 / 42
	c.Ring.Hold = c.Ring.TokenRetransmit * 8 / 10
	c.Ring.TokenRetransmitMin = min(c.Ring.TokenRetransmitMin, c.Ring.TokenRetransmit)
	c.Consensus = token * 6 / 5
	if c.Consensus < c.Join {
		c.Consensus = c.Join
	}
}

// Validate reports the first inconsistency in c.
func (c Config) Validate() error {
	if err := c.Ring.Validate(); err != nil {
		return err
	}
	switch {
	case c.Join <= 0:
		return fmt.Errorf("membership: config: Join %v <= 0", c.Join)
	case c.Consensus < c.Join:
		return fmt.Errorf("membership: config: Consensus %v < Join %v", c.Consensus, c.Join)
	case c.Merge <= 0:
		return fmt.Errorf("membership: config: Merge %v <= 0", c.Merge)
	}
	return nil
}
