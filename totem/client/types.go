package client

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/totem/proto"
)

// NodeID is a node's id in the cluster.
type NodeID = wire.NodeID

// Level is a message's service level: how strongly its delivery is ordered and when it
// is delivered. A daemon rejects a level it does not offer with ErrBadLevel; Info.Levels
// lists what it offers.
type Level string

const (
	// Agreed: delivered in the same total order at every member.
	Agreed Level = proto.LevelAgreed
	// Safe: agreed, and delivered only once every node of the configuration has it.
	Safe Level = proto.LevelSafe
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

// String returns the ring id as "rep.seq".
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
	// Transport says how the node reaches the ring: "multicast GROUP:PORT" or "udpu"
	// ("" from a daemon that does not say).
	Transport string
	// Timers are the node's effective protocol timers (zero from a daemon that does not
	// report them).
	Timers Timers
	// Nodes lists, sorted by id, every configured node, every node the daemon has heard
	// from and every member of the current ring.
	Nodes []NodeInfo
}

// Timers are a node's effective protocol timers. Zero: off (or not reported).
type Timers struct {
	Token              time.Duration // token loss timeout
	TokenRetransmit    time.Duration // token retransmission (the adaptive timer's cap)
	TokenRetransmitMin time.Duration // the adaptive token retransmission timer's floor
	Hold               time.Duration // how long an idle ring's representative holds the token
	FailToReceive      time.Duration // how long a member may hold the ring's aru back
	Consensus          time.Duration // how long gathering waits for agreement
	Join               time.Duration // the join message interval while gathering
	Merge              time.Duration // the representative's ring announcement interval
}

// Node states of NodeInfo.
const (
	NodeMember  = "member"  // in the current ring (the daemon's own node always is)
	NodeMissing = "missing" // configured, but not in the current ring
	NodeUnknown = "unknown" // heard from, but neither configured nor in the ring
)

// NodeInfo is one node as the daemon's node sees it.
type NodeInfo struct {
	ID NodeID
	// Addr is its configured address, or else the one its datagrams came from; zero
	// when neither is known.
	Addr netip.AddrPort
	// State is NodeMember, NodeMissing or NodeUnknown (a newer daemon may report others).
	State      string
	Self       bool // the daemon's own node
	Configured bool // in the daemon's node list
	// Heard: the daemon has accepted a datagram from it, HeardAgo before the reply
	// (never for Self).
	Heard    bool
	HeardAgo time.Duration
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

func timers(t *proto.Timers) Timers {
	if t == nil {
		return Timers{}
	}
	us := func(v uint64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Timers{
		Token: us(t.TokenUS), TokenRetransmit: us(t.TokenRetransmitUS), TokenRetransmitMin: us(t.TokenRetransmitMinUS),
		Hold: us(t.HoldUS), FailToReceive: us(t.FailToReceiveUS), Consensus: us(t.ConsensusUS),
		Join: us(t.JoinUS), Merge: us(t.MergeUS),
	}
}

// nodeInfos converts the status reply's known_nodes; an address that does not parse is
// left zero.
func nodeInfos(ns []proto.NodeInfo) []NodeInfo {
	if len(ns) == 0 {
		return nil
	}
	out := make([]NodeInfo, len(ns))
	for i, n := range ns {
		addr, _ := netip.ParseAddrPort(n.Addr)
		out[i] = NodeInfo{
			ID: n.Node, Addr: addr, State: n.State, Self: n.Self, Configured: n.Configured,
			Heard: n.HeardAgoUS > 0, HeardAgo: time.Duration(n.HeardAgoUS) * time.Microsecond,
		}
	}
	return out
}

func member(m proto.Member) Member {
	return Member{Node: m.Node, Session: m.Session, PID: m.PID, Name: m.Name}
}

func members(ms []proto.Member) []Member {
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = member(m)
	}
	return out
}

func changes(cs []proto.Change) []Change {
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
func eventOf(f *proto.ServerFrame) (Event, bool) {
	switch f.Type {
	case proto.TypeMessage:
		level := Level(f.Level)
		if level == "" {
			level = Agreed
		}
		return Message{Group: f.Group, Sender: member(f.Sender), Level: level, Safe: level == Safe, Data: f.Data}, true
	case proto.TypeView:
		return View{Group: f.Group, Members: members(f.Members), Joined: changes(f.Joined), Left: changes(f.Left)}, true
	}
	return nil, false
}
