package ipc

import (
	"slices"
	"time"

	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/proto"
)

func security(authenticated bool) string {
	if authenticated {
		return proto.SecurityAuthenticated
	}
	return proto.SecurityUnauthenticated
}

// micros is d in microseconds, rounded up, so that a measured duration is never
// reported as none.
func micros(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Microsecond - 1) / time.Microsecond)
}

func statusFrame(id uint32, st totem.Status) *proto.ServerFrame {
	t := st.Timers
	return &proto.ServerFrame{
		Type:         proto.TypeStatus,
		ID:           id,
		NodeID:       st.NodeID,
		State:        st.State.String(),
		Ring:         proto.RingID{Rep: st.Ring.Rep, Seq: st.Ring.Seq},
		Nodes:        slices.Clone(st.Members),
		RotationUS:   micros(st.Rotation),
		Security:     security(st.Authenticated),
		AuthFailures: st.Stats.DropOpen,
		Replayed:     st.Stats.DropReplay,
		DuplicateID:  st.Stats.DropDupID,
		Transport:    st.Transport,
		Timers: &proto.Timers{
			TokenUS: micros(t.Token), TokenRetransmitUS: micros(t.TokenRetransmit),
			TokenRetransmitMinUS: micros(t.TokenRetransmitMin), HoldUS: micros(t.Hold),
			FailToReceiveUS: micros(t.FailToReceive), ConsensusUS: micros(t.Consensus),
			JoinUS: micros(t.Join), MergeUS: micros(t.Merge),
		},
		KnownNodes: nodeInfos(st.Nodes, time.Now()),
	}
}

func nodeInfos(ns []totem.NodeStatus, now time.Time) []proto.NodeInfo {
	out := make([]proto.NodeInfo, len(ns))
	for i, n := range ns {
		out[i] = proto.NodeInfo{Node: n.ID, State: string(n.State), Self: n.Self, Configured: n.Configured}
		if n.Addr.IsValid() {
			out[i].Addr = n.Addr.String()
		}
		if !n.LastHeard.IsZero() {
			out[i].HeardAgoUS = max(1, micros(now.Sub(n.LastHeard)))
		}
	}
	return out
}
