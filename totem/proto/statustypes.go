package proto

import "github.com/totem-gcs/totem/multicast/wire"

// Security values of the status reply.
const (
	SecurityAuthenticated   = "authenticated"
	SecurityUnauthenticated = "unauthenticated"
)

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
