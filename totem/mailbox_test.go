package totem

import (
	"context"
	"testing"
	"time"
)

func msg(n int) Event { return Event{Group: "g", Data: make([]byte, n)} }

func TestMailboxBoundsEventsAndBytes(t *testing.T) {
	b := newMailbox(3, 100)
	for i := range 3 {
		if !b.put(msg(10)) {
			t.Fatalf("event %d refused below the event bound", i)
		}
	}
	if b.put(msg(0)) {
		t.Fatal("a fourth event was queued past maxEvents 3")
	}

	b = newMailbox(100, 100)
	if !b.put(msg(60)) || b.put(msg(41)) {
		t.Fatal("want 60 bytes queued and 41 more refused (bound 100)")
	}
	if !b.put(msg(40)) {
		t.Fatal("40 more bytes refused though they fit exactly")
	}
}

func TestMailboxTakesOneOversizedEventIntoAnEmptyBox(t *testing.T) {
	b := newMailbox(10, 100)
	if !b.put(msg(1000)) {
		t.Fatal("an empty box refused one event larger than the byte bound")
	}
	if b.put(msg(1)) {
		t.Fatal("a box already over its byte bound took more")
	}
}

func TestMailboxTakeHandsOverInOrderAndFreesTheBound(t *testing.T) {
	b := newMailbox(2, 1<<20)
	b.put(Event{Group: "a"})
	b.put(Event{Group: "b"})
	evs, open := b.take(nil)
	if !open || len(evs) != 2 || evs[0].Group != "a" || evs[1].Group != "b" {
		t.Fatalf("take = %v, %v; want [a b], open", evs, open)
	}
	if !b.put(Event{Group: "c"}) || !b.put(Event{Group: "d"}) {
		t.Fatal("the bound was not freed by take")
	}
	evs, _ = b.take(evs)
	if len(evs) != 2 || evs[0].Group != "c" {
		t.Fatalf("second take = %v; want [c d]", evs)
	}
}

func TestMailboxSignalsReadyOncePerEmptyToNonEmpty(t *testing.T) {
	b := newMailbox(10, 1<<20)
	b.put(msg(1))
	b.put(msg(1))
	select {
	case <-b.ready:
	default:
		t.Fatal("no ready signal after the first event")
	}
	select {
	case <-b.ready:
		t.Fatal("a second signal for events that were already signalled")
	default:
	}
}

func TestMailboxDeliversWhatWasQueuedBeforeClose(t *testing.T) {
	b := newMailbox(10, 1<<20)
	b.put(msg(1))
	b.close()
	if b.put(msg(1)) {
		t.Fatal("a closed box took an event")
	}
	evs, open := b.take(nil)
	if len(evs) != 1 || !open {
		t.Fatalf("take = %d events, open %v; want the queued event first", len(evs), open)
	}
	if evs, open = b.take(evs); len(evs) != 0 || open {
		t.Fatalf("take after the last event = %d events, open %v; want none, closed", len(evs), open)
	}
}

func TestMailboxSteadyStateAllocatesNothing(t *testing.T) {
	b := newMailbox(1024, 1<<20)
	var evs []Event
	ev := msg(8)
	for range 3 { // warm both lists up
		b.put(ev)
		evs, _ = b.take(evs)
	}
	allocs := testing.AllocsPerRun(100, func() {
		for range 16 {
			b.put(ev)
		}
		<-b.ready
		evs, _ = b.take(evs)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per round of put and take; want 0", allocs)
	}
}

func TestSessionReceiveWaitsAndHonoursContext(t *testing.T) {
	s := &Session{box: newMailbox(10, 1<<20), done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.receive(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Receive on an empty session = %v; want the context's error", err)
	}
	go s.box.put(Event{Group: "late"})
	ev, err := s.receive(context.Background())
	if err != nil || ev.Group != "late" {
		t.Fatalf("Receive = %v, %v; want the event put meanwhile", ev, err)
	}
	s.box.put(Event{Group: "last"})
	s.end(ErrSlowConsumer)
	if ev, err := s.receive(context.Background()); err != nil || ev.Group != "last" {
		t.Fatalf("Receive after end = %v, %v; want the event queued before it", ev, err)
	}
	if _, err := s.receive(context.Background()); err != ErrSlowConsumer {
		t.Fatalf("Receive once drained = %v; want the reason the session ended", err)
	}
}
