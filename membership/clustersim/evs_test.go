package clustersim

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/totem-gcs/totem/multicast/wire"
)

// ---- a small builder for readable histories ----

// histBuilder writes histories for tests. Each ring's order is declared once with book;
// nodes then deliver positions of it, and the builder fills in the message, its safe flag
// and (ring, seq). Configurations get Left and Joined computed from the node's previous
// configurations, as a correct implementation reports them.
type histBuilder struct {
	h     History
	books map[wire.RingID][]bookEntry
	safe  map[MsgID]bool
}

// bookEntry is one position of a ring's order.
type bookEntry struct {
	msg  MsgID
	safe bool
}

func bookMsg(origin wire.NodeID, counter uint64) bookEntry {
	return bookEntry{msg: MsgID{origin, counter}}
}

func bookSafe(origin wire.NodeID, counter uint64) bookEntry {
	return bookEntry{msg: MsgID{origin, counter}, safe: true}
}

func mid(origin wire.NodeID, counter uint64) MsgID { return MsgID{origin, counter} }

func rid(rep wire.NodeID, seq uint64) wire.RingID { return wire.RingID{Rep: rep, Seq: seq} }

func newHistBuilder() *histBuilder {
	return &histBuilder{books: make(map[wire.RingID][]bookEntry), safe: make(map[MsgID]bool)}
}

// book declares ring r's order: entries[i] has seq i+1.
func (b *histBuilder) book(r wire.RingID, entries ...bookEntry) {
	b.books[r] = entries
	for _, e := range entries {
		b.safe[e.msg] = e.safe
	}
}

func (b *histBuilder) node(n wire.NodeID) *nodeBuilder { return &nodeBuilder{b: b, id: n} }

// nodeBuilder appends to one node's log and remembers what Left/Joined/Send.Ring need.
type nodeBuilder struct {
	b       *histBuilder
	id      wire.NodeID
	lastReg *Configuration // regular configuration of the current incarnation
	last    *Configuration // last configuration of the current incarnation
}

func (n *nodeBuilder) add(e Event) *nodeBuilder {
	n.b.h.Add(n.id, e)
	return n
}

func (n *nodeBuilder) start() *nodeBuilder {
	n.lastReg, n.last = nil, nil
	return n.add(Event{Kind: EventStart})
}

func (n *nodeBuilder) crash() *nodeBuilder { return n.add(Event{Kind: EventCrash}) }

// send logs Sends, in the current regular configuration, safe as the books say.
func (n *nodeBuilder) send(ms ...MsgID) *nodeBuilder {
	for _, m := range ms {
		e := Event{Kind: EventSend, Msg: m, Safe: n.b.safe[m]}
		if n.lastReg != nil {
			e.Ring = n.lastReg.Ring
		}
		n.add(e)
	}
	return n
}

// deliver delivers the given seqs of ring r, as the book declares them.
func (n *nodeBuilder) deliver(r wire.RingID, seqs ...wire.Seq) *nodeBuilder {
	for _, s := range seqs {
		e := n.b.books[r][s-1]
		n.add(Event{Kind: EventDeliver, Msg: e.msg, Safe: e.safe, Ring: r, Seq: s})
	}
	return n
}

func (n *nodeBuilder) reg(r wire.RingID, members ...wire.NodeID) *nodeBuilder {
	c := &Configuration{Ring: r, Members: members, Joined: members}
	if n.last != nil && n.last.Transitional {
		c.Joined = setMinus(members, n.last.Members)
	}
	n.lastReg, n.last = c, c
	return n.add(Event{Kind: EventConfig, Conf: c})
}

func (n *nodeBuilder) trans(r wire.RingID, members ...wire.NodeID) *nodeBuilder {
	c := &Configuration{Transitional: true, Ring: r, Members: members}
	if n.lastReg != nil {
		c.Left = setMinus(n.lastReg.Members, members)
	}
	n.last = c
	return n.add(Event{Kind: EventConfig, Conf: c})
}

// ---- the reference scenario ----

// Ring ids of the scenario.
var (
	ringR1 = rid(1, 4)  // {1,2,3,4}
	ringRA = rid(1, 8)  // {1,2} after the partition
	ringRB = rid(3, 8)  // {3,4} after the partition
	ringRM = rid(1, 12) // {1,2,3,4} after the merge
	ringRC = rid(1, 16) // {1,2,3} after node 4 crashed
	ringRR = rid(1, 20) // {1,2,3,4} after node 4 restarted
)

// evsScenario is a correct history of four processors: ring R1 of all four partitions
// into {1,2} (ring RA) and {3,4} (ring RB); each side delivers the old ring's remaining
// messages in its own transitional configuration, skipping over what only the other side
// received; the sides merge into RM; node 4 crashes, the others form RC and deliver one of
// its messages before the gap its lost message leaves and one of their own after it; node
// 4 restarts and everybody forms RR.
func evsScenario() History {
	b := newHistBuilder()
	b.book(ringR1, bookMsg(1, 0), bookSafe(2, 0), bookMsg(3, 0), bookMsg(4, 0), bookMsg(1, 1), bookMsg(3, 1), bookMsg(2, 1))
	b.book(ringRA, bookMsg(1, 2), bookMsg(2, 2))
	b.book(ringRB, bookMsg(4, 1), bookSafe(3, 2))
	b.book(ringRM, bookMsg(1, 3), bookSafe(4, 2), bookMsg(3, 3), bookMsg(4, 3), bookMsg(4, 4), bookMsg(1, 4))
	b.book(ringRC, bookMsg(2, 3))
	b.book(ringRR, bookMsg(4, 10), bookSafe(2, 4))

	b.node(1).start().send(mid(1, 0)).
		reg(ringR1, 1, 2, 3, 4).deliver(ringR1, 1, 2, 3, 4).send(mid(1, 1)).deliver(ringR1, 5).
		trans(ringRA, 1, 2).deliver(ringR1, 7). // seq 6 reached only {3,4}: skipped
		reg(ringRA, 1, 2).send(mid(1, 2)).deliver(ringRA, 1, 2).
		trans(ringRM, 1, 2).
		reg(ringRM, 1, 2, 3, 4).send(mid(1, 3)).deliver(ringRM, 1, 2, 3).send(mid(1, 4)).
		trans(ringRC, 1, 2, 3).deliver(ringRM, 4, 6). // 5 was lost with node 4
		reg(ringRC, 1, 2, 3).deliver(ringRC, 1).
		trans(ringRR, 1, 2, 3).
		reg(ringRR, 1, 2, 3, 4).deliver(ringRR, 1, 2)

	b.node(2).start().send(mid(2, 0)).
		reg(ringR1, 1, 2, 3, 4).deliver(ringR1, 1, 2, 3, 4, 5).send(mid(2, 1)).
		trans(ringRA, 1, 2).deliver(ringR1, 7).
		reg(ringRA, 1, 2).send(mid(2, 2)).deliver(ringRA, 1, 2).
		trans(ringRM, 1, 2).
		reg(ringRM, 1, 2, 3, 4).deliver(ringRM, 1, 2, 3).
		trans(ringRC, 1, 2, 3).deliver(ringRM, 4, 6).
		reg(ringRC, 1, 2, 3).send(mid(2, 3)).deliver(ringRC, 1).
		trans(ringRR, 1, 2, 3).
		reg(ringRR, 1, 2, 3, 4).send(mid(2, 4)).deliver(ringRR, 1, 2)

	b.node(3).start().send(mid(3, 0)).
		reg(ringR1, 1, 2, 3, 4).deliver(ringR1, 1, 2, 3, 4).send(mid(3, 1)).
		trans(ringRB, 3, 4).deliver(ringR1, 6). // seq 5 reached only {1,2}: skipped
		reg(ringRB, 3, 4).send(mid(3, 2)).deliver(ringRB, 1, 2).
		trans(ringRM, 3, 4).
		reg(ringRM, 1, 2, 3, 4).deliver(ringRM, 1, 2).send(mid(3, 3)).deliver(ringRM, 3).
		trans(ringRC, 1, 2, 3).deliver(ringRM, 4, 6).
		reg(ringRC, 1, 2, 3).deliver(ringRC, 1).
		trans(ringRR, 1, 2, 3).
		reg(ringRR, 1, 2, 3, 4).deliver(ringRR, 1, 2)

	b.node(4).start().send(mid(4, 0)).
		reg(ringR1, 1, 2, 3, 4).deliver(ringR1, 1, 2, 3, 4).
		trans(ringRB, 3, 4).deliver(ringR1, 6).
		reg(ringRB, 3, 4).send(mid(4, 1)).deliver(ringRB, 1, 2).
		trans(ringRM, 3, 4).
		reg(ringRM, 1, 2, 3, 4).send(mid(4, 2)).deliver(ringRM, 1, 2).send(mid(4, 3), mid(4, 4)).
		crash().
		start().send(mid(4, 10)).
		reg(ringRR, 1, 2, 3, 4).deliver(ringRR, 1, 2)
	return b.h
}

func TestCheckEVSCorrectHistory(t *testing.T) {
	h := evsScenario()
	if vs := CheckEVS(h); len(vs) > 0 {
		t.Fatalf("correct history reported:\n%s", violationLines(vs))
	}
}

// ---- mutations that plant violations ----

func cloneHistory(h History) History {
	out := History{Logs: make(map[wire.NodeID][]Event, len(h.Logs))}
	for n, log := range h.Logs {
		c := slices.Clone(log)
		for i := range c {
			if c[i].Conf != nil {
				conf := *c[i].Conf
				c[i].Conf = &conf
			}
		}
		out.Logs[n] = c
	}
	return out
}

// find returns the index of the first event of node n's log that matches.
func findEvent(t *testing.T, h History, n wire.NodeID, match func(Event) bool) int {
	t.Helper()
	i := slices.IndexFunc(h.Logs[n], match)
	if i < 0 {
		t.Fatalf("node %d: event not found", n)
	}
	return i
}

func isDeliver(m MsgID) func(Event) bool {
	return func(e Event) bool { return e.Kind == EventDeliver && e.Msg == m }
}

func isSend(m MsgID) func(Event) bool {
	return func(e Event) bool { return e.Kind == EventSend && e.Msg == m }
}

func isConf(trans bool, r wire.RingID) func(Event) bool {
	return func(e Event) bool { return e.Kind == EventConfig && e.Conf.Transitional == trans && e.Conf.Ring == r }
}

func removeEvent(h History, n wire.NodeID, i int) {
	h.Logs[n] = slices.Delete(h.Logs[n], i, i+1)
}

func insertEvents(h History, n wire.NodeID, i int, evs ...Event) {
	h.Logs[n] = slices.Insert(h.Logs[n], i, evs...)
}

// move moves event i of node n to just after event j (j is an index before the move).
func moveEvent(h History, n wire.NodeID, i, j int) {
	e := h.Logs[n][i]
	removeEvent(h, n, i)
	if j > i {
		j--
	}
	insertEvents(h, n, j+1, e)
}

// forDeliveries edits every delivery, at every node, of position (r, s).
func forDeliveries(h History, r wire.RingID, s wire.Seq, edit func(*Event)) {
	for _, log := range h.Logs {
		for i := range log {
			if e := &log[i]; e.Kind == EventDeliver && e.Ring == r && e.Seq == s {
				edit(e)
			}
		}
	}
}

// renameMsg replaces message from by to in every event.
func renameMsg(h History, from, to MsgID) {
	for _, log := range h.Logs {
		for i := range log {
			if log[i].Msg == from {
				log[i].Msg = to
			}
		}
	}
}

// renameRing replaces ring from by to everywhere: configurations, deliveries, sends.
func renameRing(h History, from, to wire.RingID) {
	for _, log := range h.Logs {
		for i := range log {
			e := &log[i]
			if e.Ring == from {
				e.Ring = to
			}
			if e.Conf != nil && e.Conf.Ring == from {
				e.Conf.Ring = to
			}
		}
	}
}

func TestCheckEVSPlantedViolations(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, h History)
		want  []Property
	}{{
		name: "two nodes deliver two messages in opposite orders",
		plant: func(t *testing.T, h History) {
			i := findEvent(t, h, 2, isDeliver(mid(3, 0)))
			moveEvent(h, 2, i, i+1) // node 2 delivers ringR1#4 before ringR1#3
		},
		want: []Property{PropTotalOrder},
	}, {
		name: "a message delivered twice",
		plant: func(t *testing.T, h History) {
			i := findEvent(t, h, 3, isDeliver(mid(1, 3)))
			insertEvents(h, 3, i+1, h.Logs[3][i])
		},
		want: []Property{PropIntegrity},
	}, {
		name: "a delivered message that was never sent",
		plant: func(t *testing.T, h History) {
			removeEvent(h, 2, findEvent(t, h, 2, isSend(mid(2, 2))))
		},
		want: []Property{PropIntegrity},
	}, {
		name: "one of two nodes moving together misses a message",
		plant: func(t *testing.T, h History) {
			removeEvent(h, 1, findEvent(t, h, 1, isDeliver(mid(2, 2)))) // the last of ring ringRA
		},
		want: []Property{PropFailureAtomicity},
	}, {
		name: "a message before a configuration change at one node and after it at another",
		plant: func(t *testing.T, h History) {
			i := findEvent(t, h, 2, isDeliver(mid(1, 1)))
			moveEvent(h, 2, i, findEvent(t, h, 2, isConf(true, ringRA)))
		},
		want: []Property{PropPlacement, PropFailureAtomicity},
	}, {
		name: "a gap in a regular configuration",
		plant: func(t *testing.T, h History) {
			removeEvent(h, 4, findEvent(t, h, 4, isDeliver(mid(1, 3)))) // ringRM#1; node 4 then crashes
		},
		want: []Property{PropGapFree},
	}, {
		name: "after a gap, a transitional configuration delivers a departed node's message",
		plant: func(t *testing.T, h History) {
			for _, n := range []wire.NodeID{1, 2, 3} {
				i := findEvent(t, h, n, isDeliver(mid(1, 4))) // ringRM#6, after the gap at 5
				insertEvents(h, n, i+1, Event{Kind: EventDeliver, Msg: mid(4, 4), Ring: ringRM, Seq: 7})
			}
		},
		want: []Property{PropTransContent},
	}, {
		name: "a regular configuration without a transitional one before it",
		plant: func(t *testing.T, h History) {
			removeEvent(h, 3, findEvent(t, h, 3, isConf(true, ringRR)))
		},
		want: []Property{PropTransStructure},
	}, {
		name: "a transitional configuration with a member not in the previous regular one",
		plant: func(t *testing.T, h History) {
			h.Logs[3][findEvent(t, h, 3, isConf(true, ringRM))].Conf.Members = []wire.NodeID{1, 3, 4}
		},
		want: []Property{PropTransStructure},
	}, {
		name: "a configuration that does not list its node",
		plant: func(t *testing.T, h History) {
			tc := h.Logs[3][findEvent(t, h, 3, isConf(true, ringRM))].Conf
			tc.Members, tc.Left = []wire.NodeID{4}, []wire.NodeID{3}
			h.Logs[3][findEvent(t, h, 3, isConf(false, ringRM))].Conf.Joined = []wire.NodeID{1, 2, 3}
		},
		want: []Property{PropSelfInclusion},
	}, {
		name: "two member sets for one ring id",
		plant: func(t *testing.T, h History) {
			h.Logs[4][findEvent(t, h, 4, isConf(false, ringRR))].Conf.Members = []wire.NodeID{1, 3, 4}
		},
		want: []Property{PropMembershipAgreement},
	}, {
		name: "a ring seq that does not increase",
		plant: func(t *testing.T, h History) {
			renameRing(h, ringRC, rid(2, 12)) // after ringRM = 1.12
		},
		want: []Property{PropMonotonicRings},
	}, {
		name: "a node delivers its own message but not one it sent before",
		plant: func(t *testing.T, h History) {
			renameMsg(h, mid(3, 3), mid(3, 4))
			i := findEvent(t, h, 3, isSend(mid(3, 4)))
			insertEvents(h, 3, i, Event{Kind: EventSend, Msg: mid(3, 3), Ring: ringRM})
		},
		want: []Property{PropSelfDelivery},
	}, {
		name: "one origin's messages out of sending order",
		plant: func(t *testing.T, h History) {
			forDeliveries(h, ringR1, 1, func(e *Event) { e.Msg = mid(1, 1) })
			forDeliveries(h, ringR1, 5, func(e *Event) { e.Msg = mid(1, 0) })
			moveEvent(h, 1, findEvent(t, h, 1, isSend(mid(1, 1))), findEvent(t, h, 1, isSend(mid(1, 0))))
		},
		want: []Property{PropFIFO},
	}, {
		name: "a safe message a live member of its configuration never delivers",
		plant: func(t *testing.T, h History) {
			forDeliveries(h, ringR1, 5, func(e *Event) { e.Safe = true }) // {3,4} never got it
		},
		want: []Property{PropSafe},
	}, {
		name: "a message sequenced on a ring older than the one it was sent in",
		plant: func(t *testing.T, h History) {
			h.Logs[2][findEvent(t, h, 2, isSend(mid(2, 3)))].Ring = ringRR
		},
		want: []Property{PropDeliveryScope},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := cloneHistory(evsScenario())
			tt.plant(t, h)
			vs := CheckEVS(h)
			t.Logf("violations:\n%s", violationLines(vs))
			if got := reportedProperties(vs); !slices.Equal(got, tt.want) {
				t.Fatalf("reported properties %v, want %v; violations:\n%s", got, tt.want, violationLines(vs))
			}
		})
	}
}

// TestCheckEVSSmallHistories covers what the scenario cannot host without setting off
// other properties too.
func TestCheckEVSSmallHistories(t *testing.T) {
	a, bR, c := rid(1, 4), rid(3, 5), rid(1, 8)
	tests := []struct {
		name  string
		build func() History
		want  []Property
	}{{
		name: "one transitional configuration reached from two rings",
		build: func() History {
			b := newHistBuilder()
			b.node(1).start().reg(a, 1, 2, 3).trans(c, 1, 2, 3).reg(c, 1, 2, 3)
			b.node(2).start().reg(a, 1, 2, 3).trans(c, 1, 2, 3).reg(c, 1, 2, 3)
			b.node(3).start().reg(bR, 1, 2, 3).trans(c, 1, 2, 3).reg(c, 1, 2, 3)
			return b.h
		},
		want: []Property{PropTransAgreement},
	}, {
		name: "a regular configuration delivers another ring's message",
		build: func() History {
			b := newHistBuilder()
			b.book(bR, bookMsg(1, 0))
			b.node(1).start().send(mid(1, 0)).reg(a, 1, 2).deliver(bR, 1)
			b.node(2).start().reg(a, 1, 2).deliver(bR, 1)
			return b.h
		},
		want: []Property{PropDeliveryScope},
	}, {
		name: "a delivery before any configuration",
		build: func() History {
			b := newHistBuilder()
			b.book(a, bookMsg(1, 0))
			b.node(1).start().deliver(a, 1).reg(a, 1)
			return b.h
		},
		want: []Property{PropDeliveryScope},
	}, {
		name: "two transitional configurations in a row, the second leading to another ring",
		build: func() History {
			b := newHistBuilder()
			b.node(1).start().reg(a, 1, 2).trans(c, 1).trans(bR, 1).reg(c, 1)
			return b.h
		},
		want: []Property{PropTransStructure},
	}, {
		name: "a message with two positions, a position with two messages",
		build: func() History {
			b := newHistBuilder()
			b.book(a, bookMsg(1, 0), bookMsg(2, 0))
			b.node(1).start().reg(a, 1, 2).deliver(a, 1, 2)
			b.node(2).start().reg(a, 1, 2).
				add(Event{Kind: EventDeliver, Msg: mid(2, 0), Ring: a, Seq: 1}).
				add(Event{Kind: EventDeliver, Msg: mid(1, 0), Ring: a, Seq: 2})
			return b.h
		},
		want: []Property{PropTotalOrder},
	}, {
		name: "malformed logs",
		build: func() History {
			b := newHistBuilder()
			b.node(1).start().reg(a, 2, 1).crash().reg(a, 1, 2).
				add(Event{Kind: EventConfig}).add(Event{Kind: 99})
			return b.h
		},
		want: []Property{PropLogFormat},
	}, {
		name: "after a restart the same message may be delivered again",
		build: func() History {
			b := newHistBuilder()
			b.book(a, bookMsg(1, 0))
			b.node(1).start().reg(a, 1).deliver(a, 1).crash().start().reg(c, 1).
				add(Event{Kind: EventDeliver, Msg: mid(1, 0), Ring: a, Seq: 1})
			return b.h
		},
		want: []Property{PropDeliveryScope}, // on ring a in c, but no duplicate
	}, {
		name: "a node does not deliver its own message that the other side of a partition delivered",
		build: func() History {
			b := newHistBuilder()
			b.book(a, bookMsg(1, 0))
			b.node(1).start().reg(a, 1, 2).send(mid(1, 0)).trans(c, 1).reg(c, 1)
			b.node(2).start().reg(a, 1, 2).deliver(a, 1).trans(bR, 2).reg(bR, 2)
			return b.h
		},
		want: []Property{PropSelfDelivery},
	}, {
		name: "a crashed member owes nothing, an open log owes nothing yet",
		build: func() History {
			b := newHistBuilder()
			b.book(a, bookMsg(1, 0), bookSafe(1, 1))
			b.node(1).start().send(mid(1, 0), mid(1, 1)).reg(a, 1, 2, 3).deliver(a, 1, 2)
			b.node(2).start().reg(a, 1, 2, 3).deliver(a, 1).crash()
			b.node(3).start().reg(a, 1, 2, 3).deliver(a, 1).trans(c, 3)
			return b.h
		},
		want: nil,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := CheckEVS(tt.build())
			t.Logf("violations:\n%s", violationLines(vs))
			if got := reportedProperties(vs); !slices.Equal(got, tt.want) {
				t.Fatalf("reported properties %v, want %v; violations:\n%s", got, tt.want, violationLines(vs))
			}
		})
	}
}

func TestCheckEVSReportFormatAndOrder(t *testing.T) {
	h := cloneHistory(evsScenario())
	i := findEvent(t, h, 2, isDeliver(mid(1, 1)))
	moveEvent(h, 2, i, findEvent(t, h, 2, isConf(true, ringRA)))
	vs := CheckEVS(h)
	for range 5 {
		if again := CheckEVS(cloneHistory(h)); !reflect.DeepEqual(again, vs) {
			t.Fatalf("output differs between runs:\n%s\n---\n%s", violationLines(vs), violationLines(again))
		}
	}
	want := []string{
		"EVS-7 config-change-placement: node 1 vs node 2: node 1 delivers 1:1 (event 8) before transitional 1.8 [1 2], node 2 after it (event 9)",
		"EVS-13 failure-atomicity: node 2 vs node 1: between regular 1.4 [1 2 3 4] (event 2) and transitional 1.8 [1 2] (event 8): lacks [1:1] that node 1 delivered",
		"EVS-13 failure-atomicity: node 2 vs node 1: between transitional 1.8 [1 2] (event 8) and regular 1.8 [1 2] (event 11): delivered [1:1] that node 1 did not",
	}
	if got := violationLines(vs); got != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

// ---- large histories ----

// bigHistory is a correct history of n processors that all stay together: every `per`
// messages a configuration change (transitional of everybody, then a new ring). Every
// tenth message asks for safe delivery. Each processor delivers total messages.
func evsBigHistory(nodes, total, per int) History {
	var h History
	members := make([]wire.NodeID, nodes)
	for i := range members {
		members[i] = wire.NodeID(i + 1)
	}
	counters := make([]uint64, nodes+1)
	var ring wire.RingID
	var seq wire.Seq
	for k := range total {
		if k%per == 0 {
			prev := ring
			ring = rid(1, uint64(4+4*k/per))
			for _, n := range members {
				if !prev.IsZero() {
					h.Add(n, Event{Kind: EventConfig, Conf: &Configuration{Transitional: true, Ring: ring, Members: members}})
				}
				joined := []wire.NodeID(nil)
				if prev.IsZero() {
					joined = members
				}
				h.Add(n, Event{Kind: EventConfig, Conf: &Configuration{Ring: ring, Members: members, Joined: joined}})
			}
			seq = 0
		}
		origin := members[k%nodes]
		m := MsgID{origin, counters[origin]}
		counters[origin]++
		seq++
		safe := k%10 == 0
		h.Add(origin, Event{Kind: EventSend, Msg: m, Safe: safe, Ring: ring})
		for _, n := range members {
			h.Add(n, Event{Kind: EventDeliver, Msg: m, Safe: safe, Ring: ring, Seq: seq})
		}
	}
	return h
}

func TestCheckEVSBigHistoryIsClean(t *testing.T) {
	h := evsBigHistory(5, 2000, 300)
	if vs := CheckEVS(h); len(vs) > 0 {
		t.Fatalf("correct history reported:\n%s", violationLines(vs))
	}
	h.Logs[3] = slices.DeleteFunc(h.Logs[3], isDeliver(mid(2, 7)))
	if got := reportedProperties(CheckEVS(h)); len(got) == 0 {
		t.Fatal("a missing delivery went unnoticed")
	}
}

// BenchmarkCheckEVS checks 10 processors delivering 10,000 messages each (100,000
// deliveries), with a configuration change every 1,000 messages.
func BenchmarkCheckEVS(b *testing.B) {
	h := evsBigHistory(10, 10000, 1000)
	b.ResetTimer()
	for b.Loop() {
		if vs := CheckEVS(h); len(vs) > 0 {
			b.Fatalf("correct history reported %d violations, first %v", len(vs), vs[0])
		}
	}
}

// ---- helpers ----

// properties lists the distinct properties reported, in report order.
func reportedProperties(vs []Violation) []Property {
	var out []Property
	for _, v := range vs {
		if !slices.Contains(out, v.Property) {
			out = append(out, v.Property)
		}
	}
	return out
}

func violationLines(vs []Violation) string {
	lines := make([]string, len(vs))
	for i, v := range vs {
		lines[i] = fmt.Sprint(v)
	}
	return strings.Join(lines, "\n")
}
