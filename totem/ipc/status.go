package ipc

import (
	"slices"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/totem"
)

// Security values of the status reply.
const (
	SecurityAuthenticated   = "authenticated"
	SecurityUnauthenticated = "unauthenticated"
)

func security(authenticated bool) string {
	if authenticated {
		return SecurityAuthenticated
	}
	return SecurityUnauthenticated
}

// Timers are the node's effective protocol timers in the status reply, in
// microseconds. A timer that is off (0) is left out.
type Timers struct {
	TokenUS              uint64 `msgpack:"token_us,omitempty"`
	TokenRetransmitUS    uint64 `msgpack:"token_retransmit_us,omitempty"`
	TokenRetransmitMinUS uint64 `msgpack:"token_retransmit_min_us,omitempty"`
	HoldUS               uint64 `msgpack:"hold_us,omitempty"`
	FailToReceiveUS      uint64 `msgpack:"fail_to_receive_us,omitempty"`
	ConsensusUS          uint64 `msgpack:"consensus_us,omitempty"`
	JoinUS               uint64 `msgpack:"join_us,omitempty"`
	MergeUS              uint64 `msgpack:"merge_us,omitempty"`
}

// NodeInfo is one node of the status reply's known_nodes: every configured node,
// every node heard and every ring member.
type NodeInfo struct {
	Node wire.NodeID `msgpack:"node"`
	// Addr is "IP:PORT": configured, or as last heard; absent when unknown.
	Addr string `msgpack:"addr,omitempty"`
	// State is "member" (in the ring), "missing" (configured, not in the ring) or
	// "unknown" (heard, not configured, not in the ring).
	State      string `msgpack:"state"`
	Self       bool   `msgpack:"self,omitempty"`
	Configured bool   `msgpack:"configured,omitempty"`
	// HeardAgoUS is how long ago, in microseconds and rounded up, the node's last
	// datagram was accepted; absent when never (and for this node).
	HeardAgoUS uint64 `msgpack:"heard_ago_us,omitempty"`
}

// micros is d in microseconds, rounded up, so that a measured duration is never
// reported as none.
func micros(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Microsecond - 1) / time.Microsecond)
}

func statusFrame(id uint32, st totem.Status) *ServerFrame {
	t := st.Timers
	return &ServerFrame{
		Type:         TypeStatus,
		ID:           id,
		NodeID:       st.NodeID,
		State:        st.State.String(),
		Ring:         RingID{Rep: st.Ring.Rep, Seq: st.Ring.Seq},
		Nodes:        slices.Clone(st.Members),
		RotationUS:   micros(st.Rotation),
		Security:     security(st.Authenticated),
		AuthFailures: st.Stats.DropOpen,
		Replayed:     st.Stats.DropReplay,
		DuplicateID:  st.Stats.DropDupID,
		Transport:    st.Transport,
		Timers: &Timers{
			TokenUS: micros(t.Token), TokenRetransmitUS: micros(t.TokenRetransmit),
			TokenRetransmitMinUS: micros(t.TokenRetransmitMin), HoldUS: micros(t.Hold),
			FailToReceiveUS: micros(t.FailToReceive), ConsensusUS: micros(t.Consensus),
			JoinUS: micros(t.Join), MergeUS: micros(t.Merge),
		},
		KnownNodes: nodeInfos(st.Nodes, time.Now()),
	}
}

func nodeInfos(ns []totem.NodeStatus, now time.Time) []NodeInfo {
	out := make([]NodeInfo, len(ns))
	for i, n := range ns {
		out[i] = NodeInfo{Node: n.ID, State: string(n.State), Self: n.Self, Configured: n.Configured}
		if n.Addr.IsValid() {
			out[i].Addr = n.Addr.String()
		}
		if !n.LastHeard.IsZero() {
			out[i].HeardAgoUS = max(1, micros(now.Sub(n.LastHeard)))
		}
	}
	return out
}
