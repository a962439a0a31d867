package totemtest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/totem"
)

// WaitRing waits, bounded by ctx, until every one of nodes is operational on one ring
// whose members are exactly those nodes; on ctx's end it logs each node's status and
// fails tb. It polls Status, for tests of real nodes (in real time).
func WaitRing(tb testing.TB, ctx context.Context, nodes ...*totem.Node) {
	tb.Helper()
	for {
		sts := make([]totem.Status, len(nodes))
		want := make([]wire.NodeID, len(nodes))
		for i, n := range nodes {
			sts[i] = n.Status() // NodeID is known once the node runs
			want[i] = sts[i].NodeID
		}
		slices.Sort(want)
		ok := true
		for _, st := range sts {
			if st.State != membership.Operational || !slices.Equal(st.Members, want) || st.Ring != sts[0].Ring {
				ok = false
			}
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			for _, n := range nodes {
				st := n.Status()
				tb.Logf("node %d: %v ring %v members %v", st.NodeID, st.State, st.Ring, st.Members)
			}
			tb.Fatalf("no ring of exactly these %d nodes: %v", len(nodes), ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
