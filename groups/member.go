package groups

import (
	"cmp"
	"fmt"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Member is one process in a group: a session (client) of some node's daemon. A member
// is identified by its node and its session handle there; PID and Name describe it.
type Member struct {
	Node    wire.NodeID
	Session uint32 // handle the node gave the session; unique on that node
	PID     uint32 // the client's process id (from the socket's credentials)
	Name    string // the client's name
}

func (m Member) key() memberKey { return memberKey{m.Node, m.Session} }

type memberKey struct {
	node    wire.NodeID
	session uint32
}

func cmpMember(a, b Member) int {
	if c := cmp.Compare(a.Node, b.Node); c != 0 {
		return c
	}
	return cmp.Compare(a.Session, b.Session)
}

// Reason says why a member joined or left a group.
type Reason uint8

// The reasons a view gives for each member that joined or left. The Unix socket
// protocol carries their String names (docs/PROTOCOL.md §8.2).
const (
	ReasonJoin       Reason = 1 // joined
	ReasonLeave      Reason = 2 // left the group
	ReasonDisconnect Reason = 3 // its client disconnected from the daemon
	ReasonNodeDown   Reason = 4 // its node failed, left or is on the other side of a partition
	ReasonNodeUp     Reason = 5 // its node came into the configuration (merge, restart)
)

// String returns the reason's name ("join", "node-down", ...) as views print it.
func (r Reason) String() string {
	switch r {
	case ReasonJoin:
		return "join"
	case ReasonLeave:
		return "leave"
	case ReasonDisconnect:
		return "disconnect"
	case ReasonNodeDown:
		return "node-down"
	case ReasonNodeUp:
		return "node-up"
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Change is a member that joined or left, and why.
type Change struct {
	Member Member
	Reason Reason
}

// View is a group's membership after a change.
type View struct {
	Group   string
	Members []Member // sorted by node, then session
	Joined  []Change
	Left    []Change
}

// Event is what a session receives: a message of a group it joined, or a view change of
// such a group, in the group's agreed order.
type Event struct {
	Group  string
	View   *View  // non-nil for a view change
	Sender Member // message: who sent it
	Safe   bool   // message: delivered with safe guarantee
	Data   []byte // message: the payload (owned by the receiver)
}
