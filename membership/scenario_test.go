package membership_test

import (
	"slices"
	"testing"
	"time"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/membership/clustersim"
	"github.com/totem-gcs/totem/multicast/simnet"
	"github.com/totem-gcs/totem/multicast/wire"
)

// quiet is a five-processor scenario with a perfect network and the given script.
func quiet(script ...clustersim.Action) clustersim.ClusterParams {
	return clustersim.ClusterParams{
		Nodes:   5,
		Faults:  3 * time.Second,
		Rate:    20 * time.Millisecond,
		Safe:    0.3,
		Link:    simnet.LinkConfig{DelayMin: 200 * time.Microsecond, Jitter: 100 * time.Microsecond},
		Nemesis: script,
	}
}

// firstRegularWithout returns when node first installed a regular configuration that does
// not contain gone, after time after.
func firstRegularWithout(res clustersim.ClusterResult, node, gone wire.NodeID, after time.Duration) (time.Duration, bool) {
	for _, e := range res.History.Logs[node] {
		if e.Kind == clustersim.EventConfig && !e.Conf.Transitional && e.At > after && !slices.Contains(e.Conf.Members, gone) {
			return e.At, true
		}
	}
	return 0, false
}

func TestGracefulLeaveReformsWithoutWaitingForTimeouts(t *testing.T) {
	leaveAt := time.Second
	res := clustersim.RunCluster(1, quiet(clustersim.Action{At: leaveAt, Kind: clustersim.ActLeave, Node: 3}))
	if res.Failed() {
		t.Fatal(res.Report(40))
	}
	cfg := clustersim.ClusterSimConfig(1)
	for _, n := range []wire.NodeID{1, 2, 4, 5} {
		at, ok := firstRegularWithout(res, n, 3, leaveAt)
		if !ok {
			t.Fatalf("node %d never installed a configuration without the leaver", n)
		}
		if took := at - leaveAt; took >= cfg.Ring.TokenTimeout {
			t.Errorf("node %d re-formed %v after the leave, want less than the token timeout %v", n, took, cfg.Ring.TokenTimeout)
		}
	}
}

func TestCrashedProcessorIsRemovedAfterTokenAndConsensusTimeouts(t *testing.T) {
	crashAt := time.Second
	res := clustersim.RunCluster(1, quiet(clustersim.Action{At: crashAt, Kind: clustersim.ActCrash, Node: 4}))
	if res.Failed() {
		t.Fatal(res.Report(40))
	}
	cfg := clustersim.ClusterSimConfig(1)
	bound := cfg.Ring.TokenTimeout + cfg.Consensus + 4*cfg.Join + 100*time.Millisecond
	for _, n := range []wire.NodeID{1, 2, 3, 5} {
		at, ok := firstRegularWithout(res, n, 4, crashAt)
		if !ok {
			t.Fatalf("node %d never installed a configuration without the crashed processor", n)
		}
		if took := at - crashAt; took > bound {
			t.Errorf("node %d re-formed %v after the crash, want at most %v", n, took, bound)
		}
	}
}

func TestRestartedProcessorNeverReusesARingID(t *testing.T) {
	res := clustersim.RunCluster(1, quiet(
		clustersim.Action{At: 500 * time.Millisecond, Kind: clustersim.ActCrash, Node: 1},
		clustersim.Action{At: 600 * time.Millisecond, Kind: clustersim.ActRestart, Node: 1},
		clustersim.Action{At: 1500 * time.Millisecond, Kind: clustersim.ActCrash, Node: 1},
		clustersim.Action{At: 1510 * time.Millisecond, Kind: clustersim.ActRestart, Node: 1},
	))
	if res.Failed() {
		t.Fatal(res.Report(40))
	}
	var seqs []uint64
	for _, e := range res.History.Logs[1] {
		if e.Kind == clustersim.EventConfig && !e.Conf.Transitional {
			seqs = append(seqs, e.Conf.Ring.Seq)
		}
	}
	if len(seqs) < 3 || !slices.IsSorted(seqs) || len(slices.Compact(slices.Clone(seqs))) != len(seqs) {
		t.Fatalf("node 1's ring seqs across restarts %v, want at least three, strictly increasing", seqs)
	}
}

func TestPartitionedSidesMergeWhenHealed(t *testing.T) {
	res := clustersim.RunCluster(1, quiet(
		clustersim.Action{At: 500 * time.Millisecond, Kind: clustersim.ActPartition, Sets: [][]wire.NodeID{{1, 2}, {3, 4, 5}}},
		clustersim.Action{At: 2 * time.Second, Kind: clustersim.ActHeal},
	))
	if res.Failed() {
		t.Fatal(res.Report(40))
	}
	// Each side ran its own ring in between.
	sides := map[wire.NodeID][]wire.NodeID{1: {1, 2}, 3: {3, 4, 5}}
	for n, want := range sides {
		found := false
		for _, e := range res.History.Logs[n] {
			if e.Kind == clustersim.EventConfig && !e.Conf.Transitional && slices.Equal(e.Conf.Members, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("node %d never installed its side %v", n, want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	good := membership.DefaultConfig(1)
	if err := good.Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*membership.Config)
	}{
		{"no join interval", func(c *membership.Config) { c.Join = 0 }},
		{"consensus shorter than join", func(c *membership.Config) { c.Consensus = c.Join / 2 }},
		{"no merge interval", func(c *membership.Config) { c.Merge = 0 }},
		{"bad ring config", func(c *membership.Config) { c.Ring.Self = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := membership.DefaultConfig(1)
			tt.mutate(&c)
			if _, err := membership.New(c, 0, 0); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
}
