package membership

import (
	"fmt"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/ring"
)

// State is a membership protocol state.
type State uint8

// The states of the membership protocol, in the order a new ring passes through them.
// The zero State is the machine before Start ("init").
const (
	Gather      State = iota + 1 // exchanging join messages until the proposals agree
	Commit                       // the commit token is circling the new ring
	Recovery                     // re-sending old-ring messages on the new ring
	Operational                  // ordering messages on an installed ring
	Left                         // after Leave: the machine does nothing more
)

// String returns the state's lower-case name, as logs and status show it.
func (s State) String() string {
	switch s {
	case Gather:
		return "gather"
	case Commit:
		return "commit"
	case Recovery:
		return "recovery"
	case Operational:
		return "operational"
	case Left:
		return "left"
	case 0:
		return "init"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Configuration is a configuration change, delivered in Ready.Events at its place in the
// total order.
type Configuration struct {
	// Transitional configurations hold the members that move together from the previous
	// regular configuration to the next; messages that only they are sure to share are
	// delivered in it. Regular configurations are rings.
	Transitional bool
	// Ring is the new ring's id, for both kinds (as Corosync reports it).
	Ring    wire.RingID
	Members []wire.NodeID // sorted
	// Left: transitional: members of the previous regular configuration not in Members;
	// regular: members of the previous regular configuration not in Members.
	Left []wire.NodeID
	// Joined: regular only: members not in the transitional configuration.
	Joined []wire.NodeID
	// Leaving: the subset of Left that announced a graceful leave.
	Leaving []wire.NodeID
}

// Event is one delivery: a message or a configuration change.
type Event struct {
	// Msg is a delivered message (nil for a configuration change). Recovered messages are
	// delivered as the original: Msg.Ring and Msg.Seq name the ring that ordered it.
	Msg *wire.Mcast
	// Config is a configuration change (nil for a message).
	Config *Configuration
}

// Transition records a state change, for logs.
type Transition struct {
	From, To State
	Ring     wire.RingID // the ring being formed or installed, if known
	Reason   string
	// Failure: a timer expired (the token or the commit token lost, no consensus), as
	// opposed to a join, a leave or a merge: what an operator is warned about.
	Failure bool
	// Waited is how long the expired timer had waited, and Suspects the nodes it points
	// at: the predecessor that stopped passing the token, the nodes that did not answer
	// joins.
	Waited   time.Duration
	Suspects []wire.NodeID
}

// Ready is what the machine wants done after an event. Ready() drains it.
type Ready struct {
	// RingSeq, when non-zero, must be written to stable storage before any packet of this
	// Ready is sent, and given back to New after a restart.
	RingSeq uint64
	// Multicast: packets for every other processor.
	Multicast []wire.Packet
	// Unicast: packets for one processor each.
	Unicast []ring.Unicast
	// Events: deliveries in order.
	Events []Event
	// Transitions: state changes, for logs.
	Transitions []Transition
	// Deadline: when Tick should next be called (0: none).
	Deadline time.Duration
}

// Status is a snapshot for operators and tests.
type Status struct {
	Self    wire.NodeID
	State   State
	Ring    wire.RingID // the installed ring
	Members []wire.NodeID
	Queued  int // application messages not yet sent
	RingSeq uint64
}
