package multicast

import (
	"net/netip"
	"testing"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

var (
	addrA = netip.MustParseAddrPort("10.0.0.1:5405")
	addrB = netip.MustParseAddrPort("10.0.0.9:5405")
)

func TestReplayFilterAcceptsEachCounterOnce(t *testing.T) {
	f, now := newReplayFilter(), time.Unix(100, 0)
	for _, c := range []uint64{1, 2, 5, 3, 4, 100} {
		if v, _ := f.check(2, 7, c, addrA, now); v != fresh {
			t.Fatalf("counter %d: %v, want fresh", c, v)
		}
	}
	for _, c := range []uint64{1, 3, 5, 100} {
		if v, _ := f.check(2, 7, c, addrB, now); v != replayed {
			t.Fatalf("counter %d again: %v, want replayed", c, v)
		}
	}
	if v, _ := f.check(3, 7, 1, addrB, now); v != fresh {
		t.Fatalf("another sender's counter 1: %v, want fresh", v)
	}
}

func TestReplayFilterWindow(t *testing.T) {
	f, now := newReplayFilter(), time.Unix(100, 0)
	f.check(2, 7, 10_000, addrA, now)
	if v, _ := f.check(2, 7, 10_000-replayWindow, addrA, now); v != replayed {
		t.Fatalf("below the window: %v, want replayed", v)
	}
	if v, _ := f.check(2, 7, 10_000-100, addrA, now); v != fresh {
		t.Fatalf("late but within the window: %v, want fresh", v)
	}
	// A jump far beyond the window clears it: what was seen is now below it.
	f.check(2, 7, 1_000_000, addrA, now)
	if v, _ := f.check(2, 7, 1_000_000-10, addrA, now); v != fresh {
		t.Fatalf("after a jump, an unseen counter in the window: %v, want fresh", v)
	}
	if v, _ := f.check(2, 7, 10_000, addrA, now); v != replayed {
		t.Fatalf("after a jump, an old counter: %v, want replayed", v)
	}
}

func TestReplayFilterWindowSlidesWordByWord(t *testing.T) {
	f, now := newReplayFilter(), time.Unix(100, 0)
	for c := uint64(1); c <= 3*replayWindow; c++ {
		if v, _ := f.check(2, 7, c, addrA, now); v != fresh {
			t.Fatalf("counter %d: %v, want fresh", c, v)
		}
		if c > 64 {
			if v, _ := f.check(2, 7, c-64, addrA, now); v != replayed {
				t.Fatalf("counter %d again at top %d: %v, want replayed", c-64, c, v)
			}
		}
	}
}

func TestReplayFilterRestartAndOldEpoch(t *testing.T) {
	f, now := newReplayFilter(), time.Unix(100, 0)
	f.check(2, 7, 500, addrA, now)
	if v, _ := f.check(2, 8, 1, addrA, now); v != fresh {
		t.Fatalf("a restart (a later epoch): %v, want fresh", v)
	}
	if v, _ := f.check(2, 7, 400, addrB, now); v != replayed {
		t.Fatalf("the earlier epoch, a counter it had sent: %v, want replayed", v)
	}
	if v, _ := f.check(2, 6, 999, addrB, now); v != replayed {
		t.Fatalf("an epoch older still: %v, want replayed", v)
	}
}

func TestReplayFilterTellsTwoLiveNodesFromAReplay(t *testing.T) {
	f, now := newReplayFilter(), time.Unix(100, 0)
	f.check(2, 7, 500, addrA, now)
	f.check(2, 8, 1, addrB, now) // a second daemon with id 2 starts
	v, other := f.check(2, 7, 501, addrA, now.Add(time.Millisecond))
	if v != duplicate || other != addrB {
		t.Fatalf("the first daemon goes on: %v (other %v), want duplicate with %v", v, other, addrB)
	}
	if v, _ := f.check(2, 7, 502, addrA, now); v != duplicate {
		t.Fatalf("and on: %v, want duplicate", v)
	}
	if v, _ := f.check(2, 8, 2, addrB, now); v != fresh {
		t.Fatalf("the later daemon: %v, want fresh", v)
	}
	// The operator stops the later daemon: once it has been quiet for rivalSilence the
	// first is heard again, and should the later one speak, it is the duplicate.
	later := now.Add(rivalSilence + time.Millisecond)
	if v, _ := f.check(2, 7, 503, addrA, later); v != fresh {
		t.Fatalf("the first daemon after the later one went quiet: %v, want fresh", v)
	}
	if v, other := f.check(2, 8, 3, addrB, later); v != duplicate || other != addrA {
		t.Fatalf("the later daemon again: %v (other %v), want duplicate with %v", v, other, addrA)
	}
	if v, _ := f.check(2, 7, 502, addrB, later); v != replayed {
		t.Fatalf("a replay of the first daemon: %v, want replayed", v)
	}
}

func TestReplayFilterForgetsSilentSenders(t *testing.T) {
	f, now := newReplayFilter(), time.Unix(100, 0)
	f.check(2, 9, 500, addrA, now)
	// The node restarts with its clock set back: an older epoch. Refused while the
	// newer one is remembered, accepted once it has been silent long enough.
	if v, _ := f.check(2, 5, 1, addrA, now.Add(time.Second)); v != replayed {
		t.Fatalf("older epoch at once: %v, want replayed", v)
	}
	if v, _ := f.check(2, 5, 2, addrA, now.Add(replayForget+time.Second)); v != fresh {
		t.Fatalf("older epoch after %v of silence: %v, want fresh", replayForget, v)
	}
}

func TestSealedSequenceReadsEpochAndCounter(t *testing.T) {
	s, err := NewSealer(GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	epoch, _ := sealerEpoch(s)
	for want := uint64(1); want <= 3; want++ {
		e, c, ok := sealedSequence(s.Seal(nil, []byte("x")))
		if !ok || e != epoch || c != want {
			t.Fatalf("datagram %d: epoch %d counter %d ok %v, want epoch %d", want, e, c, ok, epoch)
		}
	}
	s2, _ := NewSealer(GenerateKey())
	if e2, _ := sealerEpoch(s2); e2 <= epoch {
		t.Fatalf("a later Sealer's epoch %d is not after %d", e2, epoch)
	}
	keyless, _ := NewSealer(nil)
	if _, _, ok := sealedSequence(keyless.Seal(nil, []byte("x"))); ok {
		t.Fatal("a checksum-only datagram has no sequence")
	}
}

// BenchmarkReplayCheck is the replay filter's cost per datagram, to compare with
// BenchmarkOpenAEAD1K (what every keyed datagram costs anyway).
func BenchmarkReplayCheck(b *testing.B) {
	f, now := newReplayFilter(), time.Unix(100, 0)
	b.ReportAllocs()
	var c uint64
	for b.Loop() {
		c++
		f.check(wire.NodeID(1+c%3), 7, c, addrA, now)
	}
}
