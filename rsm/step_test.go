package rsm

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"
)

// A deterministic group for replicas driven by Step: each member's sends wait in its own
// queue (as in a daemon's send queue) until the test lets them into the one total order,
// and every message in the order is delivered to every member of the current view. A
// view change first delivers what is already in the order (EVS: messages sent in a view
// are delivered in it); what a member has not yet sent goes out in the next view.
type stepGroup struct {
	t       *testing.T
	reps    map[Member]*Replica
	logs    map[Member]*stepLog
	view    []Member
	pending map[Member][][]byte // sent by the member, not yet in the order
	order   []stepMsg
	// hold keeps a member's messages of some kind out of the order for now.
	hold func(from Member, k kind) bool
}

type stepMsg struct {
	from Member
	data []byte
}

type stepChannel struct {
	g    *stepGroup
	self Member
}

func (c *stepChannel) Self() Member { return c.self }

func (c *stepChannel) Send(_ context.Context, b []byte) error {
	c.g.pending[c.self] = append(c.g.pending[c.self], b)
	return nil
}

func (c *stepChannel) Recv(context.Context) (Event, error) {
	return Event{}, errors.New("stepped, not run")
}

// stepLog is a replicated log: a command appends itself and returns its index.
type stepLog struct{ cmds []string }

func (l *stepLog) Apply(cmd []byte) []byte {
	l.cmds = append(l.cmds, string(cmd))
	return binary.BigEndian.AppendUint64(nil, uint64(len(l.cmds)))
}

func (l *stepLog) Snapshot(w io.Writer) error {
	for _, c := range l.cmds {
		if _, err := w.Write(append([]byte(c), '\n')); err != nil {
			return err
		}
	}
	return nil
}

func (l *stepLog) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	l.cmds = splitLines(b)
	return nil
}

func splitLines(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := slices.Index(b, '\n')
		out, b = append(out, string(b[:i])), b[i+1:]
	}
	return out
}

func newStepGroup(t *testing.T, replicas int, members ...Member) *stepGroup {
	g := &stepGroup{t: t, reps: map[Member]*Replica{}, logs: map[Member]*stepLog{}, pending: map[Member][][]byte{}}
	for i, m := range members {
		l := &stepLog{}
		r, err := New(Config{Replicas: replicas, ClientID: uint64(100 + i), Instance: uint64(1 + i), ChunkSize: 64}, l, &stepChannel{g, m})
		if err != nil {
			t.Fatal(err)
		}
		g.reps[m], g.logs[m] = r, l
	}
	return g
}

// setView delivers what is already ordered, then a view of members to each of them.
func (g *stepGroup) setView(members ...Member) {
	g.t.Helper()
	g.deliverOrdered()
	old := g.view
	g.view = members
	v := &View{Members: members}
	for _, m := range members {
		if !slices.Contains(old, m) {
			v.Joined = append(v.Joined, Change{Member: m, Reason: "join"})
		}
	}
	for _, m := range old {
		if !slices.Contains(members, m) {
			v.Left = append(v.Left, Change{Member: m, Reason: "leave"})
			delete(g.pending, m)
		}
	}
	for _, m := range members {
		g.step(m, Event{View: v})
	}
}

func (g *stepGroup) step(m Member, ev Event) {
	g.t.Helper()
	r := g.reps[m]
	if err := r.Step(ev); err != nil {
		g.t.Fatalf("%v: step: %v", m, err)
	}
	for _, o := range r.TakeOutgoing() {
		g.pending[m] = append(g.pending[m], o.Data)
	}
}

// send moves into the order every pending message not held, member by member.
func (g *stepGroup) send() bool {
	moved := false
	for _, m := range g.view {
		var keep [][]byte
		for _, b := range g.pending[m] {
			k, _, err := decode(b)
			if err != nil {
				g.t.Fatalf("%v sent an undecodable message: %v", m, err)
			}
			if g.hold != nil && g.hold(m, k) {
				keep = append(keep, b)
				continue
			}
			g.order = append(g.order, stepMsg{m, b})
			moved = true
		}
		g.pending[m] = keep
	}
	return moved
}

func (g *stepGroup) deliverOrdered() {
	g.t.Helper()
	for len(g.order) > 0 {
		msg := g.order[0]
		g.order = g.order[1:]
		for _, m := range g.view {
			g.step(m, Event{Sender: msg.from, Data: slices.Clone(msg.data)})
		}
	}
}

// run sends and delivers until nothing moves.
func (g *stepGroup) run() {
	g.t.Helper()
	for range 10_000 {
		g.deliverOrdered()
		if !g.send() {
			return
		}
	}
	g.t.Fatal("the group never went quiet")
}

func (g *stepGroup) propose(m Member, cmd string) *stepAnswer {
	g.t.Helper()
	a := &stepAnswer{}
	err := g.reps[m].ProposeAsync([]byte(cmd), func(res []byte, err error) {
		a.done, a.err = true, err
		if err == nil {
			a.index = binary.BigEndian.Uint64(res)
		}
	})
	if err != nil {
		g.t.Fatalf("%v: propose %q: %v", m, cmd, err)
	}
	return a
}

type stepAnswer struct {
	done  bool
	index uint64
	err   error
}

// A replica whose state transfer is replaced by a newer round's still answers the
// commands it had ordered after the first transfer's cut: they were kept for after that
// transfer, and when it was abandoned they must be looked up in the state the newer one
// brings, not dropped with it (found by the replica simulation, which saw a Propose wait
// for ever).
func TestAbandonedTransferStillAnswersItsCommands(t *testing.T) {
	a, b, c := Member{1, 1}, Member{2, 1}, Member{3, 1}
	g := newStepGroup(t, 3, a, b, c)
	g.setView(a, b, c)
	g.run()
	for m, r := range g.reps {
		if !r.Status().Ready {
			t.Fatalf("%v not ready after the first round: %+v", m, r.Status())
		}
	}
	// c misses commands while a and b go on as a majority.
	g.setView(a, b)
	g.step(c, Event{View: &View{Members: []Member{c}, Left: []Change{{a, "node-down"}, {b, "node-down"}}}})
	g.run()
	first := g.propose(a, "w1")
	g.run()
	if !first.done || first.err != nil {
		t.Fatalf("w1 at a: %+v", *first)
	}
	// c comes back and proposes x at once (it is synced, in a majority view); x reaches
	// the order only after the round's cut, and a's snapshot for c is slow to go out.
	g.setView(a, b, c)
	x := g.propose(c, "x")
	g.hold = func(from Member, k kind) bool { return (from == c && k == kindCmd) || (from == a && k == kindChunk) }
	g.run()
	if st := g.reps[c].Status(); st.Synced || g.reps[c].await == nil {
		t.Fatalf("c after the merge round: %+v, want a transfer pending", st)
	}
	g.hold = func(from Member, k kind) bool { return from == a && k == kindChunk }
	g.run()
	if n := len(g.reps[c].await.buffered); n != 1 {
		t.Fatalf("c kept %d messages for after its transfer, want x", n)
	}
	// b leaves: a newer round replaces c's transfer. The first snapshot never went out:
	// a's outbox drops a stream that a newer round replaces.
	g.setView(a, c)
	g.pending[a] = slices.DeleteFunc(g.pending[a], func(b []byte) bool { k, _, _ := decode(b); return k == kindChunk })
	g.hold = nil
	g.run()
	st := g.reps[c].Status()
	if !st.Ready {
		t.Fatalf("c not ready after the second round: %+v", st)
	}
	if !x.done {
		t.Fatal("x was never answered: its Propose would wait for ever")
	}
	if x.err != nil || g.logs[a].cmds[x.index-1] != "x" || !slices.Equal(g.logs[a].cmds, g.logs[c].cmds) {
		t.Fatalf("x answered %+v; a holds %q, c %q", *x, g.logs[a].cmds, g.logs[c].cmds)
	}
}

// A replica that finishes a state transfer answers, without waiting for more traffic,
// the commands it had ordered while it could not answer: their results are in the state
// it received, and the position they are held at (the epoch's start) may be stable
// already, every member having reported it before the snapshot arrived (found by the
// replica simulation: in a quiet group the Proposes waited for ever).
func TestQuietGroupAnswersAfterTransfer(t *testing.T) {
	a, b, c := Member{1, 1}, Member{2, 1}, Member{3, 1}
	g := newStepGroup(t, 3, a, b, c)
	g.setView(a, b, c)
	g.run()
	g.setView(a, b)
	g.step(c, Event{View: &View{Members: []Member{c}, Left: []Change{{a, "node-down"}, {b, "node-down"}}}})
	g.run()
	g.propose(a, "w1")
	g.run()
	// c comes back and proposes x, ordered before the round's cut; a's snapshot goes out
	// only once everything else, the stability reports included, has been delivered.
	g.setView(a, b, c)
	x := g.propose(c, "x")
	g.hold = func(from Member, k kind) bool { return from == a && k == kindChunk }
	g.run()
	if g.reps[c].await == nil || x.done {
		t.Fatalf("c after the merge round: await %v, x %+v; want a transfer pending and x waiting", g.reps[c].await != nil, *x)
	}
	g.hold = nil
	g.run()
	if !g.reps[c].Status().Ready {
		t.Fatalf("c not ready after the transfer: %+v", g.reps[c].Status())
	}
	if !x.done || x.err != nil || g.logs[c].cmds[x.index-1] != "x" {
		t.Fatalf("x: %+v (c holds %q); want it answered with its index", *x, g.logs[c].cmds)
	}
}
