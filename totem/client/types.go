package client

import (
	"fmt"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/totem/ipc"
)

// NodeID is a node's id in the cluster.
type NodeID = wire.NodeID

// Level is a message's service level: how strongly its delivery is ordered and when it
// is delivered. A daemon rejects a level it does not offer with ErrBadLevel; Info.Levels
// lists what it offers.
type Level string

const (
	// Agreed: delivered in the same total order at every member.
	Agreed Level = ipc.LevelAgreed
	// Safe: agreed, and delivered only once every node of the configuration has it.
	Safe Level = ipc.LevelSafe
)

// Member is one member of a group: a client (session) of some node's daemon.
type Member struct {
	Node    NodeID
	Session uint32 // the handle the node gave the session; unique on that node
	PID     uint32 // the client's process id, as the daemon saw it
	Name    string // the name the client gave in Dial
}

// Reason says why a member joined or left.
type Reason string

// Reasons of protocol version 1; a daemon may report others.
const (
	ReasonJoin       Reason = "join"       // joined
	ReasonLeave      Reason = "leave"      // left the group
	ReasonDisconnect Reason = "disconnect" // its client disconnected from its daemon
	ReasonNodeDown   Reason = "node-down"  // its node failed, left or is partitioned away
	ReasonNodeUp     Reason = "node-up"    // its node came into the configuration
)

// Change is a member that joined or left, and why.
type Change struct {
	Member Member
	Reason Reason
}

// Event is what Events delivers: a Message or a View.
type Event interface{ event() }

// Message is a message of a joined group, in the group's agreed order.
type Message struct {
	Group  string
	Sender Member
	Level  Level
	Safe   bool // Level == Safe
	Data   []byte
}

// View is a group's membership after a change. Members is sorted by node, then
// session.
type View struct {
	Group   string
	Members []Member
	Joined  []Change
	Left    []Change
}

func (Message) event() {}
func (View) event()    {}

// RingID names a ring: its representative and its ring sequence number.
type RingID struct {
	Rep NodeID
	Seq uint64
}

func (r RingID) String() string { return fmt.Sprintf("%d.%d", r.Rep, r.Seq) }

// Status is what the daemon's node knows about itself.
type Status struct {
	NodeID  NodeID
	State   string // operational, gather, commit, recovery (or left while stopping)
	Ring    RingID
	Members []NodeID // the nodes of the current ring
	// Rotation is the token rotation time the node measures (0: unknown, e.g. before
	// the ring is operational or from a daemon that does not report it).
	Rotation time.Duration
	// Security is "authenticated" when the ring's datagrams are authenticated with a
	// pre-shared key, "unauthenticated" when they are only checksummed.
	Security string
	// AuthFailures counts the datagrams the node dropped for failing authentication.
	AuthFailures uint64
	// Replayed counts authenticated datagrams dropped as replays: copies of datagrams
	// already received, or from a sender's earlier run.
	Replayed uint64
	// DuplicateID counts datagrams dropped because two live nodes send with one node id.
	DuplicateID uint64
}

// Group is a group and its members.
type Group struct {
	Name    string
	Members []Member
}

// Info is what the daemon said in the handshake.
type Info struct {
	Version    uint32 // the protocol version in use
	NodeID     NodeID // the daemon's node
	Session    uint32 // this client's session handle on that node
	PID        uint32 // this client's pid as the daemon sees it
	MaxMessage int    // the largest message Multicast accepts
	Levels     []Level
}

func member(m ipc.Member) Member {
	return Member{Node: m.Node, Session: m.Session, PID: m.PID, Name: m.Name}
}

func members(ms []ipc.Member) []Member {
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = member(m)
	}
	return out
}

func changes(cs []ipc.Change) []Change {
	if len(cs) == 0 {
		return nil
	}
	out := make([]Change, len(cs))
	for i, c := range cs {
		out[i] = Change{
			Member: Member{Node: c.Node, Session: c.Session, PID: c.PID, Name: c.Name},
			Reason: Reason(c.Reason),
		}
	}
	return out
}

// eventOf converts an event frame; ok is false for an event type this version does not
// know (skipped, so that newer daemons can add events).
func eventOf(f *ipc.ServerFrame) (Event, bool) {
	switch f.Type {
	case ipc.TypeMessage:
		level := Level(f.Level)
		if level == "" {
			level = Agreed
		}
		return Message{Group: f.Group, Sender: member(f.Sender), Level: level, Safe: level == Safe, Data: f.Data}, true
	case ipc.TypeView:
		return View{Group: f.Group, Members: members(f.Members), Joined: changes(f.Joined), Left: changes(f.Left)}, true
	}
	return nil, false
}
