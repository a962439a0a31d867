package totem

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/multicast"
	"github.com/totem-gcs/totem/multicast/wire"
)

// NodeState is what Status says about one node of the cluster.
type NodeState string

// The states of NodeStatus.
const (
	// NodeMember: in the current ring (this node always is).
	NodeMember NodeState = "member"
	// NodeMissing: configured (Config.Nodes) but not in the current ring.
	NodeMissing NodeState = "missing"
	// NodeUnknown: heard from, but neither configured nor in the current ring.
	NodeUnknown NodeState = "unknown"
)

// NodeStatus is one node as this node sees it: every configured node, every node the
// transport has heard and every member of the current ring has one.
type NodeStatus struct {
	ID wire.NodeID
	// Addr is the configured address, or else the one its datagrams came from (this
	// node: its own). Zero when neither is known (a ring member not heard directly).
	Addr  netip.AddrPort
	State NodeState
	// Self: this node.
	Self bool
	// Configured: in Config.Nodes.
	Configured bool
	// LastHeard is when the transport last accepted a datagram from it, with a monotonic
	// clock reading; zero when never (and for this node itself).
	LastHeard time.Time
}

// Timers are the effective timers of the membership and ring protocols
// (membership.Config), for operators.
type Timers struct {
	Token              time.Duration // token loss timeout
	TokenRetransmit    time.Duration // token retransmission (the fixed timer, and the adaptive one's cap)
	TokenRetransmitMin time.Duration // the adaptive token retransmission timer's floor (0: off)
	Hold               time.Duration // how long an idle ring's representative holds the token (0: never)
	FailToReceive      time.Duration // how long a member may hold the ring's aru back
	Consensus          time.Duration // how long the gather state waits for agreement
	Join               time.Duration // join message interval while gathering
	Merge              time.Duration // the representative's ring announcement interval
}

func timersOf(c membership.Config) Timers {
	return Timers{
		Token: c.Ring.TokenTimeout, TokenRetransmit: c.Ring.TokenRetransmit,
		TokenRetransmitMin: c.Ring.TokenRetransmitMin, Hold: c.Ring.Hold,
		FailToReceive: c.Ring.FailToReceive,
		Consensus:     c.Consensus, Join: c.Join, Merge: c.Merge,
	}
}

// The transport's optional reports, found through any wrappers (Unwrap) around it.
type (
	heardReporter interface{ Heard() []multicast.PeerSeen }
	describer     interface{ Describe() string }
	localAddrer   interface{ LocalAddr() netip.AddrPort }
)

// transportAs finds the first transport in tr's chain of wrappers that is a T.
func transportAs[T any](tr multicast.Transport) (T, bool) {
	for range 8 { // wrappers are few; the bound keeps a cycle from looping
		if v, ok := tr.(T); ok {
			return v, true
		}
		w, ok := tr.(interface{ Unwrap() multicast.Transport })
		if !ok {
			break
		}
		tr = w.Unwrap()
	}
	var zero T
	return zero, false
}

// describeTransport says how tr reaches the ring ("" when it does not say).
func describeTransport(tr multicast.Transport) string {
	if d, ok := transportAs[describer](tr); ok {
		return d.Describe()
	}
	return ""
}

// nodeTable lists, by id, every configured node, every node heard and every member,
// with this node (self, at selfAddr) always a member.
func nodeTable(self wire.NodeID, selfAddr netip.AddrPort, configured map[wire.NodeID]netip.AddrPort,
	members []wire.NodeID, heard []multicast.PeerSeen) []NodeStatus {
	byID := make(map[wire.NodeID]*NodeStatus, len(configured)+len(heard)+1)
	get := func(id wire.NodeID) *NodeStatus {
		ns := byID[id]
		if ns == nil {
			ns = &NodeStatus{ID: id, State: NodeUnknown}
			byID[id] = ns
		}
		return ns
	}
	for id, ap := range configured {
		ns := get(id)
		ns.Addr, ns.Configured, ns.State = ap, true, NodeMissing
	}
	for _, p := range heard {
		ns := get(p.Node)
		ns.LastHeard = p.LastHeard
		if !ns.Configured {
			ns.Addr = p.Addr
		}
	}
	for _, id := range members {
		get(id).State = NodeMember
	}
	me := get(self)
	me.Self, me.State, me.LastHeard = true, NodeMember, time.Time{}
	if !me.Addr.IsValid() {
		me.Addr = selfAddr
	}
	out := make([]NodeStatus, 0, len(byID))
	for _, ns := range byID {
		out = append(out, *ns)
	}
	slices.SortFunc(out, func(a, b NodeStatus) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
