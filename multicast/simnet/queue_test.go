package simnet

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestQueuePopsInArrivalThenSeqOrder checks the heap against a sorted slice (the naive
// oracle), with pushes, pops and removals interleaved.
func TestQueuePopsInArrivalThenSeqOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var q queue
	var oracle []flight
	byKey := func(a, b flight) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.seq, b.seq))
	}
	for seq := range uint64(5000) {
		switch op := rng.IntN(10); {
		case op < 6:
			f := flight{at: time.Duration(rng.IntN(50)), seq: seq, p: &payload{refs: 1}}
			q.push(f)
			oracle = append(oracle, f)
		case op < 9 && q.len() > 0:
			slices.SortFunc(oracle, byKey)
			got, want := q.pop(), oracle[0]
			oracle = oracle[1:]
			if got.at != want.at || got.seq != want.seq {
				t.Fatalf("pop = (%v, %d), want (%v, %d)", got.at, got.seq, want.at, want.seq)
			}
		default:
			odd := func(f *flight) bool { return f.at%2 == 1 }
			q.removeIf(odd, func(flight) {})
			oracle = slices.DeleteFunc(oracle, func(f flight) bool { return odd(&f) })
		}
		if q.len() != len(oracle) {
			t.Fatalf("queue holds %d flights, want %d", q.len(), len(oracle))
		}
	}
}

func TestPayloadGivesLastReceiverTheBufferAndOthersCopies(t *testing.T) {
	p := &payload{data: []byte("abc"), refs: 3}
	first := p.take()
	p.release()
	last := p.take()
	if &first[0] == &last[0] {
		t.Error("two receivers share one buffer")
	}
	if string(first) != "abc" || string(last) != "abc" {
		t.Errorf("got %q and %q, want abc twice", first, last)
	}
	if p.data != nil || p.refs != 0 {
		t.Errorf("payload still holds %q with %d refs after the last copy", p.data, p.refs)
	}
}
