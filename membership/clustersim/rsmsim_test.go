package clustersim

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/totem-gcs/totem/rsm"
)

// cleanReplicaHistory is a run whose replicas pass every check, to break one property at
// a time.
func cleanReplicaHistory(t *testing.T) ReplicaHistory {
	t.Helper()
	res := RunReplicaCluster(1, ClusterParamsFor(1))
	if res.Failed() {
		t.Fatalf("the reference run fails: %s", res.Report(10))
	}
	if res.Answered < 10 || res.ReadsAnswered < 2 || res.Ready < 2 {
		t.Fatalf("the reference run answered %d operations with %d replicas ready: too few to break", res.Answered, res.Ready)
	}
	return res.Replicas
}

func cloneReplicaHistory(h ReplicaHistory) ReplicaHistory {
	out := h
	out.Ops = make([]*ReplicaOp, len(h.Ops))
	for i, op := range h.Ops {
		c := *op
		out.Ops[i] = &c
	}
	out.Final = slices.Clone(h.Final)
	for i := range out.Final {
		out.Final[i].Log = slices.Clone(h.Final[i].Log)
	}
	return out
}

// answeredOps returns the answered operations of the final history, by index.
func answeredOps(h ReplicaHistory) []*ReplicaOp {
	var out []*ReplicaOp
	for _, op := range h.Ops {
		if op.Complete != 0 && op.Err == nil && op.Gen == h.Generation {
			out = append(out, op)
		}
	}
	slices.SortFunc(out, func(a, b *ReplicaOp) int { return int(a.Index) - int(b.Index) })
	return out
}

// answeredRead returns a read answered in the final history.
func answeredRead(h ReplicaHistory) *ReplicaRead {
	for _, rd := range h.Reads {
		if rd.Complete != 0 && rd.Err == nil && rd.Gen == h.Generation {
			return rd
		}
	}
	panic("no read answered in the reference run")
}

// Each property of the replicated log, broken by hand in an otherwise clean history, is
// reported.
func TestCheckReplicasReportsEachProperty(t *testing.T) {
	clean := cleanReplicaHistory(t)
	if v := CheckReplicas(clean); len(v) != 0 {
		t.Fatalf("clean history: %v", v)
	}
	tests := []struct {
		prop   RSMProperty
		mutate func(h *ReplicaHistory)
	}{
		{RSMOnce, func(h *ReplicaHistory) { // applied twice
			f := &h.Final[0]
			f.Log = append(f.Log, f.Log[0])
		}},
		{RSMAgreement, func(h *ReplicaHistory) { // one replica holds one operation less
			f := &h.Final[len(h.Final)-1]
			f.Log = f.Log[:len(f.Log)-1]
			f.Status.Applied--
		}},
		{RSMDurable, func(h *ReplicaHistory) { // an answered operation lost by every replica
			lost := answeredOps(*h)[0].ID
			for i := range h.Final {
				h.Final[i].Log = slices.DeleteFunc(h.Final[i].Log, func(id uint64) bool { return id == lost })
			}
		}},
		{RSMDurable, func(h *ReplicaHistory) { // an answer that names another index
			answeredOps(*h)[0].Index += 1000
		}},
		{RSMRealTime, func(h *ReplicaHistory) { // an answer given before a later-ordered one was even invoked
			ops := answeredOps(*h)
			first, last := ops[0], ops[len(ops)-1]
			last.Complete = first.Invoke - 1
			last.Invoke = last.Complete - 1
		}},
		{RSMReads, func(h *ReplicaHistory) { // a read that missed an operation answered before it
			rd := answeredRead(*h)
			rd.Len, rd.Invoke = 0, answeredOps(*h)[0].Complete+1
			rd.Complete = max(rd.Complete, rd.Invoke+1)
		}},
		{RSMReads, func(h *ReplicaHistory) { // a read that saw an operation invoked after it
			rd := answeredRead(*h)
			rd.Complete, rd.Invoke = 0, 0
			rd.Complete = answeredOps(*h)[len(answeredOps(*h))-1].Invoke - 1
			rd.Invoke = rd.Complete - 1
			rd.Len = uint64(len(h.Final[0].Log))
		}},
		{RSMLive, func(h *ReplicaHistory) { // a replica left not ready beside one that holds the latest state
			h.Final[len(h.Final)-1].Status.Ready = false
		}},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d-%s", i, tt.prop), func(t *testing.T) {
			h := cloneReplicaHistory(clean)
			tt.mutate(&h)
			vs := CheckReplicas(h)
			if !slices.ContainsFunc(vs, func(v RSMViolation) bool { return v.Property == tt.prop }) {
				t.Fatalf("broke %s, got %v", tt.prop, vs)
			}
		})
	}
}

// A history whose state was lost (every replica that held it gone) starts again: the
// earlier history's answers are not looked for in the new one's log, and an operation
// whose answer was an error (outcome unknown) may be in the log or not.
func TestCheckReplicasKeepsHistoriesApart(t *testing.T) {
	ready := rsm.Status{Ready: true, Synced: true, Epoch: 1}
	h := ReplicaHistory{
		Generation: 1, LatestEpoch: 1,
		Ops: []*ReplicaOp{
			{ID: 1, Invoke: 1, Complete: 2, Index: 1, Gen: 0},                     // answered in the lost history
			{ID: 2, Invoke: 3, Complete: 4, Index: 1, Gen: 1},                     // answered in the final one
			{ID: 3, Invoke: 5, Complete: 6, Err: errors.New("no quorum"), Gen: 1}, // unknown: applied here
			{ID: 4, Invoke: 7, Gen: 1},                                            // never answered (crashed)
		},
		Final: []ReplicaFinal{{Node: 1, Status: ready, Log: []uint64{2, 3}}, {Node: 2, Status: ready, Log: []uint64{2, 3}}},
	}
	if vs := CheckReplicas(h); len(vs) != 0 {
		t.Fatalf("violations %v", vs)
	}
	h.Generation = 0
	if vs := CheckReplicas(h); len(vs) == 0 {
		t.Fatal("an answered operation missing from its own history's log is not reported")
	}
}

// A run replays from its seed: the same operations, answers and final logs, although
// the replicas' goroutine-free core iterates maps (answer order within one step may
// differ, what is sent may not).
func TestReplicaSimulationReplays(t *testing.T) {
	a := RunReplicaCluster(5, ClusterParamsFor(5))
	b := RunReplicaCluster(5, ClusterParamsFor(5))
	if a.Failed() || b.Failed() {
		t.Fatalf("seed 5 fails: %s", a.Report(10))
	}
	if len(a.Replicas.Ops) != len(b.Replicas.Ops) || a.Answered != b.Answered || a.VirtualTime != b.VirtualTime {
		t.Fatalf("two runs of seed 5 differ: %d/%d operations, %d/%d answered, %v/%v", len(a.Replicas.Ops), len(b.Replicas.Ops), a.Answered, b.Answered, a.VirtualTime, b.VirtualTime)
	}
	for i := range a.Replicas.Ops {
		x, y := a.Replicas.Ops[i], b.Replicas.Ops[i]
		if x.ID != y.ID || x.Index != y.Index || x.Invoke != y.Invoke || x.Complete != y.Complete || (x.Err == nil) != (y.Err == nil) {
			t.Fatalf("operation %d differs between two runs: %+v and %+v", i, *x, *y)
		}
	}
	for i := range a.Replicas.Final {
		if !slices.Equal(a.Replicas.Final[i].Log, b.Replicas.Final[i].Log) {
			t.Fatalf("node %d's final log differs between two runs", a.Replicas.Final[i].Node)
		}
	}
}
