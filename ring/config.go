package ring

import (
	"errors"
	"fmt"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Config holds the ordering protocol's constants. All members of a ring must use the same
// values. DefaultConfig gives values close to Corosync's defaults.
type Config struct {
	// Self is this processor's node id.
	Self wire.NodeID
	// WindowSize bounds the messages (new and retransmitted) the whole ring multicasts per
	// token rotation. It protects receivers' socket buffers. Corosync: window_size 50.
	WindowSize int
	// MaxMessages bounds the messages one member multicasts per token visit.
	// Corosync: max_messages 17.
	MaxMessages int
	// MissCount is the number of token visits a message may be missing before this member
	// asks for its retransmission; it tolerates multicast overtaken by the unicast token.
	// Corosync: miss_count_const 5.
	MissCount int
	// MaxRetransmitRequests bounds the token's retransmission list (≤ wire.MaxRetransmits).
	MaxRetransmitRequests int
	// StoreMax bounds the messages a member keeps between the lowest unreleased one and the
	// highest sequence number; the token stops handing out sequence numbers beyond it.
	// Corosync: 16384 sort-queue slots.
	StoreMax int
	// SendQueueMax bounds the application messages waiting for the token. Submit fails with
	// ErrQueueFull beyond it: the caller must apply backpressure.
	SendQueueMax int
	// TokenRetransmit is how long a member waits, after forwarding the token, for a sign
	// that its successor got it before sending its copy again, when the ring may be
	// holding its token (it looked idle) or when the adaptive timer is off; it also caps
	// the adaptive timer. Corosync: 714 ms for a 3000 ms token, always.
	TokenRetransmit time.Duration
	// TokenRetransmitMin turns on the adaptive token retransmission timer and is its
	// floor. A member then expects its token back within the rotation time it measures
	// (smoothed, plus four deviations, as TCP's retransmission timer) and re-sends its copy
	// when it is late, doubling the wait at each further miss, up to TokenRetransmit. A lost
	// token datagram then costs a few rotations, not TokenRetransmit; a spurious copy costs
	// one datagram, which the successor drops by its TokenSeq. Zero: the fixed timer only.
	TokenRetransmitMin time.Duration
	// TokenTimeout is how long without an accepted token before the member reports the
	// token lost (FaultTokenLost). Corosync: token 3000 ms.
	TokenTimeout time.Duration
	// Hold is how long the representative keeps the token of an idle ring before passing
	// it on (saves CPU and network when idle). Zero disables holding. It must be shorter
	// than TokenRetransmit so that holding never looks like loss. Corosync: 561 ms.
	Hold time.Duration
	// IdleVisits is the number of consecutive visits without new messages after which the
	// ring counts as idle and the representative starts holding the token.
	// Corosync: seqno_unchanged_const 30.
	IdleVisits int
	// FailToReceive is how long this member may keep the ring's aru stuck (it is the token's
	// AruID, the aru unchanged) before it reports FaultFailedToReceive. Time based, unlike
	// Corosync's rotation count, which expels a node in under a second on a fast ring.
	FailToReceive time.Duration
}

// DefaultTokenRetransmitMin is the adaptive token retransmission timer's default floor:
// above a LAN's rotation time and the scheduling delays of a busy host, far below
// Corosync's fixed 714 ms.
const DefaultTokenRetransmitMin = 4 * time.Millisecond

// DefaultConfig returns Corosync-like defaults for processor self.
func DefaultConfig(self wire.NodeID) Config {
	return Config{
		Self:                  self,
		WindowSize:            50,
		MaxMessages:           17,
		MissCount:             5,
		MaxRetransmitRequests: 30,
		StoreMax:              16384,
		SendQueueMax:          4096,
		TokenRetransmit:       714 * time.Millisecond,
		TokenRetransmitMin:    DefaultTokenRetransmitMin,
		TokenTimeout:          3000 * time.Millisecond,
		Hold:                  561 * time.Millisecond,
		IdleVisits:            30,
		FailToReceive:         10 * time.Second,
	}
}

// Validate reports the first inconsistency in c.
func (c Config) Validate() error {
	switch {
	case c.Self == 0:
		return errors.New("ring: config: Self is 0")
	case c.WindowSize < 1:
		return fmt.Errorf("ring: config: WindowSize %d < 1", c.WindowSize)
	case c.MaxMessages < 1 || c.MaxMessages > c.WindowSize:
		return fmt.Errorf("ring: config: MaxMessages %d not in 1..WindowSize(%d)", c.MaxMessages, c.WindowSize)
	case c.MissCount < 1:
		return fmt.Errorf("ring: config: MissCount %d < 1", c.MissCount)
	case c.MaxRetransmitRequests < 1 || c.MaxRetransmitRequests > wire.MaxRetransmits:
		return fmt.Errorf("ring: config: MaxRetransmitRequests %d not in 1..%d", c.MaxRetransmitRequests, wire.MaxRetransmits)
	case c.StoreMax < 2*c.WindowSize:
		return fmt.Errorf("ring: config: StoreMax %d < 2*WindowSize", c.StoreMax)
	case c.SendQueueMax < 1:
		return fmt.Errorf("ring: config: SendQueueMax %d < 1", c.SendQueueMax)
	case c.TokenRetransmit <= 0 || c.TokenTimeout <= c.TokenRetransmit:
		return fmt.Errorf("ring: config: need 0 < TokenRetransmit(%v) < TokenTimeout(%v)", c.TokenRetransmit, c.TokenTimeout)
	case c.TokenRetransmitMin < 0 || c.TokenRetransmitMin > c.TokenRetransmit:
		return fmt.Errorf("ring: config: need 0 <= TokenRetransmitMin(%v) <= TokenRetransmit(%v)", c.TokenRetransmitMin, c.TokenRetransmit)
	case c.Hold < 0 || (c.Hold > 0 && c.Hold >= c.TokenRetransmit):
		return fmt.Errorf("ring: config: need 0 <= Hold(%v) < TokenRetransmit(%v)", c.Hold, c.TokenRetransmit)
	case c.Hold > 0 && c.IdleVisits < 1:
		return fmt.Errorf("ring: config: IdleVisits %d < 1", c.IdleVisits)
	case c.FailToReceive <= 0:
		return fmt.Errorf("ring: config: FailToReceive %v <= 0", c.FailToReceive)
	}
	return nil
}
