package simnet

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// exchange has every node unicast to every other node and multicast once, delivers
// everything, and returns the set of "from->to" links that carried at least one copy.
func exchange(n *Network, nodes int) []string {
	for from := 1; from <= nodes; from++ {
		for to := 1; to <= nodes; to++ {
			if to != from {
				n.Send(wire.NodeID(from), wire.NodeID(to), []byte("unicast"))
			}
		}
		n.Send(wire.NodeID(from), 0, []byte("multicast"))
	}
	var links []string
	for _, d := range drain(n) {
		links = append(links, fmt.Sprintf("%d->%d %s", d.From, d.To, d.Data))
	}
	slices.Sort(links)
	return slices.Compact(links)
}

// allLinks lists, for the given pairs, both the unicast and the multicast entry that
// exchange reports for a working link.
func allLinks(pairs ...[2]int) []string {
	var links []string
	for _, p := range pairs {
		links = append(links,
			fmt.Sprintf("%d->%d multicast", p[0], p[1]),
			fmt.Sprintf("%d->%d unicast", p[0], p[1]))
	}
	slices.Sort(links)
	return links
}

func TestPartitionSeparatesGroups(t *testing.T) {
	tests := []struct {
		name   string
		groups [][]wire.NodeID
		want   []string
	}{
		{
			name:   "two pairs talk only within their pair",
			groups: [][]wire.NodeID{{1, 2}, {3, 4}},
			want:   allLinks([2]int{1, 2}, [2]int{2, 1}, [2]int{3, 4}, [2]int{4, 3}),
		},
		{
			name:   "nodes in no group are isolated",
			groups: [][]wire.NodeID{{1, 3}},
			want:   allLinks([2]int{1, 3}, [2]int{3, 1}),
		},
		{
			name:   "singletons are isolated",
			groups: [][]wire.NodeID{{1}, {2}, {3}, {4}},
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNetwork(t, 1, Config{}, 4)
			n.Partition(tt.groups...)
			if got := exchange(n, 4); !slices.Equal(got, tt.want) {
				t.Errorf("links that carried traffic:\n got %q\nwant %q", got, tt.want)
			}
			balanced(t, n.Stats())
		})
	}
}

func TestPartitionDropsCopiesInFlightAcrossTheCut(t *testing.T) {
	n := newTestNetwork(t, 1, Config{Link: LinkConfig{DelayMin: 10 * time.Millisecond}}, 4)
	n.Send(1, 0, []byte("before"))
	n.DeliverDue(5 * time.Millisecond)
	n.Partition([]wire.NodeID{1, 2}, []wire.NodeID{3, 4})
	got := drain(n)
	if len(got) != 1 || got[0].To != 2 {
		t.Errorf("got %+v, want only the copy to 2 (same side) delivered", got)
	}
	if s := n.Stats(); s.DroppedPartition != 2 {
		t.Errorf("DroppedPartition = %d, want the 2 copies to 3 and 4", s.DroppedPartition)
	}
}

func TestHealRestoresConnectivity(t *testing.T) {
	n := newTestNetwork(t, 1, Config{}, 3)
	n.Partition([]wire.NodeID{1}, []wire.NodeID{2, 3})
	n.Cut(2, 3)
	n.Heal()
	want := allLinks([2]int{1, 2}, [2]int{1, 3}, [2]int{2, 1}, [2]int{2, 3}, [2]int{3, 1}, [2]int{3, 2})
	if got := exchange(n, 3); !slices.Equal(got, want) {
		t.Errorf("after Heal links that carried traffic:\n got %q\nwant %q", got, want)
	}
}

func TestHealDeliversCopiesInFlightIfNoLongerCut(t *testing.T) {
	n := newTestNetwork(t, 1, Config{Link: LinkConfig{DelayMin: 10 * time.Millisecond}}, 2)
	n.Send(1, 2, []byte("x"))
	n.Cut(1, 2)
	n.Heal() // the cut came and went while the copy was on the wire
	if got := drain(n); len(got) != 1 {
		t.Errorf("got %d deliveries, want 1", len(got))
	}
}

func TestCutIsOneWay(t *testing.T) {
	n := newTestNetwork(t, 1, Config{Link: LinkConfig{DelayMin: time.Millisecond}}, 3)
	n.Send(1, 2, []byte("in flight"))
	n.Cut(1, 2)
	want := allLinks([2]int{1, 3}, [2]int{2, 1}, [2]int{2, 3}, [2]int{3, 1}, [2]int{3, 2})
	if got := exchange(n, 3); !slices.Equal(got, want) {
		t.Errorf("with 1->2 cut, links that carried traffic:\n got %q\nwant %q", got, want)
	}
	// in flight, unicast and multicast from 1 to 2
	if s := n.Stats(); s.Node(2).DroppedPartition != 3 {
		t.Errorf("node 2 DroppedPartition = %d, want 3", s.Node(2).DroppedPartition)
	}
}

func TestCrashedNodeNeitherSendsNorReceives(t *testing.T) {
	n := newTestNetwork(t, 1, Config{}, 3)
	n.Crash(2)
	if n.Up(2) {
		t.Fatal("node 2 is up after Crash")
	}
	want := allLinks([2]int{1, 3}, [2]int{3, 1})
	if got := exchange(n, 3); !slices.Equal(got, want) {
		t.Errorf("with 2 crashed, links that carried traffic:\n got %q\nwant %q", got, want)
	}
	// 2 sent 2 unicasts and a 2-copy multicast, charged to their destinations 1 and 3;
	// 1 and 3 each sent 2 copies to 2.
	if s := n.Stats(); s.DroppedCrash != 8 || s.Node(2).DroppedCrash != 4 {
		t.Errorf("DroppedCrash total %d, node 2 %d, want 8 and 4", s.DroppedCrash, s.Node(2).DroppedCrash)
	}
}

func TestCrashDropsCopiesInFlightToTheNode(t *testing.T) {
	n := newTestNetwork(t, 1, Config{Link: LinkConfig{DelayMin: 10 * time.Millisecond}}, 3)
	n.Send(1, 0, []byte("to 2 and 3"))
	n.Crash(2)
	n.Restart(2) // a fast reboot must not find the old inbox
	got := drain(n)
	if len(got) != 1 || got[0].To != 3 {
		t.Errorf("got %+v, want only the copy to 3", got)
	}
	if s := n.Stats(); s.Node(2).DroppedCrash != 1 || s.InFlight != 0 {
		t.Errorf("node 2 DroppedCrash %d, in flight %d, want 1 and 0", s.Node(2).DroppedCrash, s.InFlight)
	}
}

func TestCopiesSentBeforeCrashStillArrive(t *testing.T) {
	n := newTestNetwork(t, 1, Config{Link: LinkConfig{DelayMin: 10 * time.Millisecond}}, 2)
	n.Send(2, 1, []byte("last words"))
	n.Crash(2)
	if got := drain(n); len(got) != 1 || got[0].From != 2 {
		t.Errorf("got %+v, want the copy 2 sent before crashing", got)
	}
}

func TestRestartedNodeCommunicatesAgain(t *testing.T) {
	n := newTestNetwork(t, 1, Config{}, 2)
	n.Crash(2)
	n.Crash(2) // idempotent
	n.Restart(2)
	want := allLinks([2]int{1, 2}, [2]int{2, 1})
	if got := exchange(n, 2); !slices.Equal(got, want) {
		t.Errorf("after Restart links that carried traffic:\n got %q\nwant %q", got, want)
	}
}
