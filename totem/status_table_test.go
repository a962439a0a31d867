package totem

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/totem-gcs/totem/multicast"
	"github.com/totem-gcs/totem/multicast/wire"
)

// The node table's states: member (in the ring; this node always), missing
// (configured, not in the ring), unknown (heard, not configured, not in the ring).
func TestNodeTable(t *testing.T) {
	ap := netip.MustParseAddrPort
	heardAt := time.Unix(1000, 0)
	configured := map[wire.NodeID]netip.AddrPort{1: ap("10.0.0.1:5405"), 2: ap("10.0.0.2:5405"), 3: ap("10.0.0.3:5405")}
	tests := []struct {
		name       string
		configured map[wire.NodeID]netip.AddrPort
		members    []wire.NodeID
		heard      []multicast.PeerSeen
		want       []NodeStatus
	}{
		{
			name: "alone, nothing configured", want: []NodeStatus{
				{ID: 1, Addr: ap("127.0.0.1:9"), State: NodeMember, Self: true},
			},
		},
		{
			name: "configured: one missing", configured: configured, members: []wire.NodeID{1, 2},
			heard: []multicast.PeerSeen{{Node: 2, Addr: ap("10.0.0.2:5405"), LastHeard: heardAt}},
			want: []NodeStatus{
				{ID: 1, Addr: ap("10.0.0.1:5405"), State: NodeMember, Self: true, Configured: true},
				{ID: 2, Addr: ap("10.0.0.2:5405"), State: NodeMember, Configured: true, LastHeard: heardAt},
				{ID: 3, Addr: ap("10.0.0.3:5405"), State: NodeMissing, Configured: true},
			},
		},
		{
			name: "heard from elsewhere: the configured address stays", configured: configured, members: []wire.NodeID{1, 3},
			heard: []multicast.PeerSeen{{Node: 3, Addr: ap("10.9.9.9:1"), LastHeard: heardAt}},
			want: []NodeStatus{
				{ID: 1, Addr: ap("10.0.0.1:5405"), State: NodeMember, Self: true, Configured: true},
				{ID: 2, Addr: ap("10.0.0.2:5405"), State: NodeMissing, Configured: true},
				{ID: 3, Addr: ap("10.0.0.3:5405"), State: NodeMember, Configured: true, LastHeard: heardAt},
			},
		},
		{
			name: "multicast without a list: heard nodes", members: []wire.NodeID{1, 4, 5},
			heard: []multicast.PeerSeen{
				{Node: 4, Addr: ap("10.0.0.4:5405"), LastHeard: heardAt},
				{Node: 7, Addr: ap("10.0.0.7:5405"), LastHeard: heardAt},
			},
			want: []NodeStatus{
				{ID: 1, Addr: ap("127.0.0.1:9"), State: NodeMember, Self: true},
				{ID: 4, Addr: ap("10.0.0.4:5405"), State: NodeMember, LastHeard: heardAt},
				{ID: 5, State: NodeMember},
				{ID: 7, Addr: ap("10.0.0.7:5405"), State: NodeUnknown, LastHeard: heardAt},
			},
		},
		{
			name: "not yet in a ring: still a member itself", configured: configured,
			want: []NodeStatus{
				{ID: 1, Addr: ap("10.0.0.1:5405"), State: NodeMember, Self: true, Configured: true},
				{ID: 2, Addr: ap("10.0.0.2:5405"), State: NodeMissing, Configured: true},
				{ID: 3, Addr: ap("10.0.0.3:5405"), State: NodeMissing, Configured: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := nodeTable(1, ap("127.0.0.1:9"), tt.configured, tt.members, tt.heard)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("nodeTable:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
