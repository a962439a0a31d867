package multicast

import (
	"net/netip"
	"sync"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Replay protection. With a key, every sealed datagram carries its sender's epoch (the
// wall-clock time its Sealer was made, so a restart has a larger one) and a counter that
// grows with every datagram, both authenticated as part of the nonce (seal.go). A
// receiver keeps, per sender id, the epoch it last accepted and a window of the
// counters it saw near the top: a datagram seen before, older than the window, or of an
// older epoch is a replay (or a duplicate the network made) and is dropped before the
// protocol sees it. Without this, a recording of the ring's own traffic sent back from
// any address passed authentication, and the transport learned the recorder's address
// for the members it impersonated: the token went to the attacker and the ring re-formed.
//
// The same state tells two live senders with one node id apart from a replay: a
// datagram of the epoch before the current one whose counter goes beyond anything that
// epoch sent so far comes from a node still running, not from a recording. The caller
// reports it with both addresses.
//
// A sender silent for replayForget is forgotten, so that a node whose clock went back
// across a restart (a smaller epoch) is accepted again after that long. The price: a
// recording of a node that has been gone that long is accepted until the node returns;
// the membership protocol drops what belongs to a finished ring.

const (
	// replayWindow is how far below the highest counter seen a datagram may arrive: the
	// unicast and multicast sockets are read by two goroutines, so one sender's datagrams
	// interleave out of order by up to a receive batch or so.
	replayWindow = 4096
	replayWords  = replayWindow / 64
	// replayForget is how long a silent sender's state is kept.
	replayForget = 30 * time.Second
	// rivalSilence: of two live daemons with one node id, the later one's datagrams are
	// accepted and the other's dropped, until the later one has been silent this long.
	// So whichever of them the operator stops, the other is heard again within it.
	rivalSilence = time.Second
	// replaySenders bounds the state (ids come only from datagrams sealed with the key).
	replaySenders = 4096
)

// freshness is the verdict on one datagram.
type freshness uint8

const (
	fresh     freshness = iota
	replayed            // seen before, too old, or of an earlier epoch
	duplicate           // another live node sends with this node id
)

// senderWindow is what a receiver remembers of one sender id.
type senderWindow struct {
	epoch uint64
	top   uint64 // the highest counter accepted in epoch
	floor uint64 // counters up to this one are refused (an epoch returned to; see switchTo)
	seen  [replayWords]uint64
	heard time.Time
	addr  netip.AddrPort // where the last accepted datagram came from

	// The epoch this one replaced: a live sender still using it shares the node id.
	prevEpoch, prevTop uint64
	prevHeard          time.Time
	prevAddr           netip.AddrPort
}

// replayFilter holds every sender's window. Safe for concurrent use (both readers).
type replayFilter struct {
	mu      sync.Mutex
	senders map[wire.NodeID]*senderWindow
}

func newReplayFilter() *replayFilter {
	return &replayFilter{senders: make(map[wire.NodeID]*senderWindow)}
}

// check judges a datagram from sender with the given epoch and counter, received from
// src at now, and remembers it when it is fresh. For a duplicate it also returns the
// address of the other sender.
func (f *replayFilter) check(sender wire.NodeID, epoch, counter uint64, src netip.AddrPort, now time.Time) (freshness, netip.AddrPort) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.senders[sender]
	if w == nil || now.Sub(w.heard) > replayForget {
		if w == nil && len(f.senders) >= replaySenders {
			f.forgetSilent(now)
		}
		w = &senderWindow{}
		f.senders[sender] = w
		w.start(epoch, counter, src, now)
		return fresh, netip.AddrPort{}
	}
	switch {
	case epoch == w.epoch:
		if !w.mark(counter) {
			return replayed, netip.AddrPort{}
		}
		w.heard, w.addr = now, src
		return fresh, netip.AddrPort{}
	case epoch == w.prevEpoch:
		if counter <= w.prevTop || now.Sub(w.prevHeard) > replayForget {
			return replayed, netip.AddrPort{}
		}
		if now.Sub(w.heard) > rivalSilence {
			// The epoch that replaced this one went quiet (that daemon was stopped, or
			// is idle): the one still talking is accepted again, and the other is the
			// duplicate if it speaks up.
			floor := w.prevTop
			w.switchTo(epoch, counter, src, now)
			w.floor = floor
			return fresh, netip.AddrPort{}
		}
		w.prevTop, w.prevHeard, w.prevAddr = counter, now, src
		return duplicate, w.addr
	case epoch > w.epoch: // a restart, or the later of two nodes sharing the id
		w.switchTo(epoch, counter, src, now)
		return fresh, netip.AddrPort{}
	default:
		return replayed, netip.AddrPort{}
	}
}

// switchTo makes epoch the current one and remembers the one it replaces. Returning to
// the previous epoch, the caller sets the floor: which of that epoch's counters below
// its top were seen is forgotten, so all of them are refused.
func (w *senderWindow) switchTo(epoch, counter uint64, src netip.AddrPort, now time.Time) {
	prev := *w
	w.start(epoch, counter, src, now)
	w.prevEpoch, w.prevTop, w.prevHeard, w.prevAddr = prev.epoch, prev.top, prev.heard, prev.addr
}

// forgetSilent drops the state of senders not heard for replayForget.
func (f *replayFilter) forgetSilent(now time.Time) {
	for id, w := range f.senders {
		if now.Sub(w.heard) > replayForget {
			delete(f.senders, id)
		}
	}
}

// start resets the window to a new epoch whose first datagram is counter.
func (w *senderWindow) start(epoch, counter uint64, src netip.AddrPort, now time.Time) {
	*w = senderWindow{epoch: epoch, top: counter, heard: now, addr: src}
	w.seen[(counter/64)%replayWords] |= 1 << (counter % 64)
}

// mark records counter and reports whether it was new: above the top (the window slides
// up, clearing the words it passes), or within the window and not seen.
func (w *senderWindow) mark(counter uint64) bool {
	if counter <= w.floor {
		return false
	}
	if counter > w.top {
		oldWord, newWord := w.top/64, counter/64
		for i, n := oldWord+1, 0; i <= newWord && n < replayWords; i, n = i+1, n+1 {
			w.seen[i%replayWords] = 0
		}
		w.top = counter
	} else if w.top-counter >= replayWindow-64 {
		return false // below the window (its words may already hold newer counters)
	}
	word, bit := &w.seen[(counter/64)%replayWords], uint64(1)<<(counter%64)
	if *word&bit != 0 {
		return false
	}
	*word |= bit
	return true
}
