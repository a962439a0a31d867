package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/totem-gcs/totem/totem/client"
)

// These tests run the room state machine on a simulated group: one agreed order of views
// and messages, delivered to every member, with the messages the members send queued
// until the test orders them. That lets them place a view between a want and its answer,
// or drop the answer of a member that dies, at will.

// simMember is one chat member of the simulated group.
type simMember struct {
	m      client.Member
	r      *room
	screen []string // every line it printed
	first  int      // index in the global log of its join view
	last   int      // index in the global log of the last event it delivered
	gone   bool
}

type simMsg struct {
	from *simMember
	data []byte
}

type sim struct {
	t       *testing.T
	maxHist int
	members []*simMember // present, in join order
	all     []*simMember
	queue   []simMsg // multicast, not ordered yet
	log     []string // every event line, in the agreed order
	session uint32
}

func newSim(t *testing.T, maxHist int) *sim { return &sim{t: t, maxHist: maxHist} }

func (s *sim) sorted() []client.Member {
	var ms []client.Member
	for _, x := range s.members {
		ms = append(ms, x.m)
	}
	slices.SortFunc(ms, func(a, b client.Member) int { return keyOf(a).compare(keyOf(b)) })
	return ms
}

// collect takes what a member printed and sent.
func (s *sim) collect(x *simMember) {
	out, sends, warnings := x.r.take()
	x.screen = append(x.screen, out...)
	for _, m := range sends {
		s.queue = append(s.queue, simMsg{from: x, data: encodeMessage(m)})
	}
	for _, w := range warnings {
		s.t.Errorf("%s warns: %s", x.m.Name, w)
	}
}

// deliver hands ev to every member in to.
func (s *sim) deliver(ev client.Event, to []*simMember) {
	for _, x := range to {
		if x.r == nil { // a stranger
			continue
		}
		x.r.handle(ev)
		x.last = len(s.log) - 1
		s.collect(x)
	}
}

// join adds a member on node (its join view is ordered now).
func (s *sim) join(name string, node client.NodeID) *simMember {
	s.session++
	x := &simMember{m: client.Member{Node: node, Session: s.session, PID: 100 + s.session, Name: name}}
	x.r = newRoom(keyOf(x.m), s.maxHist, 1<<20)
	x.first = len(s.log)
	s.members = append(s.members, x)
	s.all = append(s.all, x)
	v := client.View{Group: "g", Members: s.sorted(), Joined: []client.Change{{Member: x.m, Reason: client.ReasonJoin}}}
	s.log = append(s.log, viewLines(v)...)
	s.deliver(v, s.members)
	return x
}

// stranger adds a member of the group that is no chat member: it never sends.
func (s *sim) stranger(node client.NodeID) *simMember {
	s.session++
	x := &simMember{m: client.Member{Node: node, Session: s.session, Name: fmt.Sprintf("stranger%d", s.session)}}
	s.members = append(s.members, x)
	v := client.View{Group: "g", Members: s.sorted(), Joined: []client.Change{{Member: x.m, Reason: client.ReasonJoin}}}
	s.log = append(s.log, viewLines(v)...)
	s.deliver(v, s.members)
	return x
}

// claimAll has every member that waits for the history claim (its timeout expired).
func (s *sim) claimAll() {
	for _, x := range s.members {
		if x.r == nil {
			continue
		}
		if m, ok := x.r.claim(); ok {
			s.queue = append(s.queue, simMsg{from: x, data: encodeMessage(m)})
		}
	}
}

// leave removes x with reason (its view is ordered now); its messages not ordered yet
// are lost.
func (s *sim) leave(x *simMember, reason client.Reason) {
	to := slices.Clone(s.members)
	if reason != client.ReasonLeave {
		to = slices.DeleteFunc(to, func(y *simMember) bool { return y == x })
	}
	s.members = slices.DeleteFunc(s.members, func(y *simMember) bool { return y == x })
	x.gone = true
	s.queue = slices.DeleteFunc(s.queue, func(m simMsg) bool { return m.from == x })
	v := client.View{Group: "g", Members: s.sorted(), Left: []client.Change{{Member: x.m, Reason: reason}}}
	s.log = append(s.log, viewLines(v)...)
	s.deliver(v, to)
}

// say queues a chat line from x.
func (s *sim) say(x *simMember, text string) {
	s.queue = append(s.queue, simMsg{from: x, data: encodeText(text)})
}

// step orders the oldest queued message; false if none.
func (s *sim) step() bool {
	if len(s.queue) == 0 {
		return false
	}
	m := s.queue[0]
	s.queue = s.queue[1:]
	if msg, err := decode(m.data); err == nil && msg.Kind == kindText {
		s.log = append(s.log, messageLine(m.from.m.Name, msg.Text))
	}
	s.deliver(client.Message{Group: "g", Sender: m.from.m, Level: client.Agreed, Data: m.data}, s.members)
	return true
}

func (s *sim) flush() {
	for i := 0; s.step(); i++ {
		if i > 100000 {
			s.t.Fatal("the members keep sending")
		}
	}
}

// check verifies every member's screen: the history block, then event lines that are a
// contiguous stretch of the agreed log ending with the last event it delivered; and
// that every member present is synced once everything sent was ordered.
func (s *sim) check() {
	s.t.Helper()
	for _, x := range s.all {
		if !x.gone && !x.r.synced {
			s.t.Errorf("%s is still not synced; screen %q", x.m.Name, x.screen)
			continue
		}
		if len(x.screen) == 0 {
			continue // left before it synced
		}
		var hist, live []string
		n, ok := 0, false
		if len(x.screen) >= 2 {
			_, err := fmt.Sscanf(x.screen[0], "--- history (%d messages) ---", &n)
			ok = err == nil && len(x.screen) >= n+2 && x.screen[n+1] == "--- end of history ---"
		}
		if !ok {
			s.t.Errorf("%s: screen does not start with a history block: %q", x.m.Name, x.screen)
			continue
		}
		hist, live = x.screen[1:n+1], x.screen[n+2:]
		if len(hist) > s.maxHist {
			s.t.Errorf("%s: history of %d lines, more than %d", x.m.Name, len(hist), s.maxHist)
		}
		events := append(slices.Clone(hist), live...)
		end := x.last + 1
		if x.last < x.first {
			end = x.first
		}
		start := end - len(events)
		if start < 0 || !slices.Equal(events, s.log[start:end]) {
			s.t.Errorf("%s: screen is not the agreed log up to its last event:\nscreen %q\nlog    %q", x.m.Name, x.screen, s.log[:end])
			continue
		}
	}
}

func screen(hist []string, live ...string) []string {
	out := []string{fmt.Sprintf("--- history (%d messages) ---", len(hist))}
	out = append(out, hist...)
	return append(append(out, "--- end of history ---"), live...)
}

func TestRoomAlone(t *testing.T) {
	s := newSim(t, 100)
	a := s.join("alice", 1)
	s.flush()
	s.say(a, "hi")
	s.flush()
	if want := screen(nil, "* alice joined (node 1)", "<alice> hi"); !slices.Equal(a.screen, want) {
		t.Errorf("screen %q, want %q", a.screen, want)
	}
	s.check()
}

func TestRoomNewcomer(t *testing.T) {
	s := newSim(t, 100)
	a := s.join("alice", 1)
	s.flush()
	s.say(a, "hi")
	s.flush()
	b := s.join("bob", 2)
	s.say(a, "sent before bob's want") // ordered after bob's join, before the answer
	s.flush()
	s.say(b, "hello")
	s.flush()
	wantB := screen([]string{"* alice joined (node 1)", "<alice> hi"},
		"* bob joined (node 2)", "<alice> sent before bob's want", "<bob> hello")
	if !slices.Equal(b.screen, wantB) {
		t.Errorf("bob's screen\n%q, want\n%q", b.screen, wantB)
	}
	s.leave(a, client.ReasonLeave)
	if got := b.screen[len(b.screen)-1]; got != "* alice left (leave)" {
		t.Errorf("bob's last line %q", got)
	}
	s.check()
}

// TestRoomHistoryLimit: a newcomer gets the last maxHist lines as of its join.
func TestRoomHistoryLimit(t *testing.T) {
	s := newSim(t, 3)
	a := s.join("alice", 1)
	for i := range 5 {
		s.say(a, fmt.Sprint(i))
	}
	s.flush()
	b := s.join("bob", 1)
	s.flush()
	want := screen([]string{"<alice> 2", "<alice> 3", "<alice> 4"}, "* bob joined (node 1)")
	if !slices.Equal(b.screen, want) {
		t.Errorf("bob's screen %q, want %q", b.screen, want)
	}
	s.check()
}

// TestRoomGiverDies: the member that answers dies before its answer is ordered; the
// next one answers the newcomer's next want, cut at the view that says so.
func TestRoomGiverDies(t *testing.T) {
	s := newSim(t, 100)
	a := s.join("alice", 1)
	s.flush()
	b := s.join("bob", 2)
	s.flush()
	s.say(b, "bob was here")
	s.flush()
	c := s.join("carol", 3)
	s.step() // carol's want: alice queues the answer
	if len(s.queue) != 1 || s.queue[0].from != a {
		t.Fatalf("queue after carol's want: %d messages", len(s.queue))
	}
	s.leave(a, client.ReasonDisconnect) // the answer is lost with alice
	s.flush()
	want := screen([]string{"* alice joined (node 1)", "* bob joined (node 2)", "<bob> bob was here"},
		"* carol joined (node 3)", "* alice left (disconnect)")
	if !slices.Equal(c.screen, want) {
		t.Errorf("carol's screen\n%q, want\n%q", c.screen, want)
	}
	s.check()
}

// TestRoomGiverAnswerLate: the answer is ordered after another view; it still counts
// (the newcomer kept everything since the cut).
func TestRoomGiverAnswerLate(t *testing.T) {
	s := newSim(t, 100)
	a := s.join("alice", 1)
	s.flush()
	s.say(a, "one")
	s.flush()
	b := s.join("bob", 1)
	s.step() // bob's want; alice's answer queued
	d := s.join("dave", 2)
	s.flush()
	want := screen([]string{"* alice joined (node 1)", "<alice> one"}, "* bob joined (node 1)", "* dave joined (node 2)")
	if !slices.Equal(b.screen, want) {
		t.Errorf("bob's screen\n%q, want\n%q", b.screen, want)
	}
	if len(d.screen) == 0 || d.screen[len(d.screen)-1] != "* dave joined (node 2)" {
		t.Errorf("dave's screen %q", d.screen)
	}
	s.check()
}

// TestRoomEmptied: every elder of a newcomer leaves before answering: it starts with an
// empty history, with its own join notice first.
func TestRoomEmptied(t *testing.T) {
	s := newSim(t, 100)
	a := s.join("alice", 1)
	s.flush()
	b := s.join("bob", 2)
	c := s.join("carol", 2) // bob's and carol's wants are still queued
	s.leave(a, client.ReasonDisconnect)
	s.flush()
	wantB := screen(nil, "* bob joined (node 2)", "* carol joined (node 2)", "* alice left (disconnect)")
	if !slices.Equal(b.screen, wantB) {
		t.Errorf("bob's screen\n%q, want\n%q", b.screen, wantB)
	}
	// Carol's wants are delivered after alice's leave: that view is her cut.
	wantC := screen([]string{"* bob joined (node 2)", "* carol joined (node 2)"}, "* alice left (disconnect)")
	if !slices.Equal(c.screen, wantC) {
		t.Errorf("carol's screen\n%q, want\n%q", c.screen, wantC)
	}
	s.check()
}

// TestRoomStranger: a member that is not a chat member (it never wants nor answers) is
// never waited for as a giver, even when it is the lowest.
func TestRoomStranger(t *testing.T) {
	s := newSim(t, 100)
	s.stranger(1) // the lowest member, there first
	a := s.join("alice", 1)
	s.flush()
	if a.r.synced {
		t.Fatal("alice synced although an elder might hold the history")
	}
	m, ok := a.r.claim() // the sync timeout expired
	if !ok {
		t.Fatal("alice does not claim")
	}
	s.queue = append(s.queue, simMsg{from: a, data: encodeMessage(m)})
	s.flush()
	if want := screen(nil, "* alice joined (node 1)"); !slices.Equal(a.screen, want) {
		t.Errorf("alice's screen %q, want %q", a.screen, want)
	}
	b := s.join("bob", 1) // the stranger is lowest, but only alice is eligible
	s.flush()
	if want := screen([]string{"* alice joined (node 1)"}, "* bob joined (node 1)"); !slices.Equal(b.screen, want) {
		t.Errorf("bob's screen %q, want %q", b.screen, want)
	}
	s.check()
}

// TestRoomMalformed: a message that does not decode is counted and changes nothing.
func TestRoomMalformed(t *testing.T) {
	r := newRoom(key{1, 1}, 10, 1<<20)
	me := client.Member{Node: 1, Session: 1, Name: "alice"}
	r.handle(client.View{Group: "g", Members: []client.Member{me}, Joined: []client.Change{{Member: me, Reason: client.ReasonJoin}}})
	r.handle(client.Message{Group: "g", Sender: me, Data: encodeWant(wantMsg{Nonce: 1, Max: 10})})
	r.take()
	bad := [][]byte{nil, {0}, {9, 1, 2}, {byte(kindWant)}, {byte(kindWant), 0xc1}, {byte(kindHistory), 0x93, 1, 2, 3},
		encodeWant(wantMsg{}), encodeClaim(claimMsg{}), encodeHistory(historyMsg{To: wireMember{Node: 1, Session: 1}}),
		[]byte("hello"), {byte(kindHistory), 0xdd, 0xff, 0xff, 0xff, 0xff}}
	for _, data := range bad {
		r.handle(client.Message{Group: "g", Sender: client.Member{Node: 2, Session: 9, Name: "x"}, Data: data})
	}
	out, sends, warnings := r.take()
	if len(out) != 0 || len(sends) != 0 || r.malformed != len(bad) || len(warnings) != len(bad) {
		t.Errorf("out %q, sends %d, malformed %d of %d, warnings %q", out, len(sends), r.malformed, len(bad), warnings)
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hello", "hello"},
		{"tab\there", "tab\there"},
		{"two\nlines", `"two\nlines"`},
		{"bad \xff utf8", `"bad \xff utf8"`},
		{"é ü 日本", "é ü 日本"},
	}
	for _, tt := range tests {
		if got := oneLine(tt.in); got != tt.want {
			t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := messageLine("", "x"); got != `<""> x` {
		t.Errorf("empty name: %q", got)
	}
}

// TestRoomRandom runs random sequences of joins, leaves, chat lines and deliveries (with
// strangers in the group and claims, for odd seeds); at the end every present member is
// synced and every screen is the agreed log. TOTEM_SIM_SEEDS=N runs N seeds instead of
// 400.
func TestRoomRandom(t *testing.T) {
	seeds := uint64(400)
	if n, err := strconv.ParseUint(os.Getenv("TOTEM_SIM_SEEDS"), 10, 64); err == nil {
		seeds = n
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			strangers := seed%2 == 1
			s := newSim(t, []int{0, 1, 3, 100}[seed%4])
			names := 0
			for range 200 {
				switch op := rng.IntN(20); {
				case op < 3 && len(s.members) < 6:
					names++
					s.join(fmt.Sprintf("m%d", names), client.NodeID(1+rng.IntN(3)))
				case op < 5 && len(s.members) > 0:
					x := s.members[rng.IntN(len(s.members))]
					s.leave(x, []client.Reason{client.ReasonLeave, client.ReasonDisconnect, client.ReasonNodeDown}[rng.IntN(3)])
				case op < 9 && len(s.members) > 0:
					if x := s.members[rng.IntN(len(s.members))]; x.r != nil {
						s.say(x, fmt.Sprintf("line %d from %s", len(s.log), x.m.Name))
					}
				case op == 9 && strangers && len(s.members) < 6:
					s.stranger(client.NodeID(1 + rng.IntN(3)))
				case op == 10 && strangers:
					s.claimAll()
				default:
					for range rng.IntN(4) {
						s.step()
					}
				}
			}
			s.flush()
			if strangers { // those waiting for strangers claim at their timeout
				s.claimAll()
				s.flush()
			}
			s.check()
			if t.Failed() {
				t.Logf("log:\n%s", strings.Join(s.log, "\n"))
			}
		})
	}
}

// TestRoomMerge: two rooms that lived apart merge (node-up); each side keeps its own
// screen, a newcomer after the merge gets one history, and the duplicate answer is
// ignored by all.
func TestRoomMerge(t *testing.T) {
	am := client.Member{Node: 1, Session: 1, Name: "alice"}
	bm := client.Member{Node: 2, Session: 1, Name: "bob"}
	cm := client.Member{Node: 3, Session: 1, Name: "carol"}
	a, b := newRoom(keyOf(am), 100, 1<<20), newRoom(keyOf(bm), 100, 1<<20)
	var queue []client.Message
	var screens = map[*room][]string{}
	deliver := func(ev client.Event, rs ...*room) {
		for _, r := range rs {
			r.handle(ev)
			out, sends, warnings := r.take()
			screens[r] = append(screens[r], out...)
			for _, m := range sends {
				queue = append(queue, client.Message{Group: "g", Sender: client.Member{Node: r.self.Node, Session: r.self.Session, Name: r.peers[r.self].m.Name}, Data: encodeMessage(m)})
			}
			if len(warnings) > 0 {
				t.Errorf("warnings %q", warnings)
			}
		}
	}
	// Apart: each alone, synced alone.
	deliver(client.View{Group: "g", Members: []client.Member{am}, Joined: []client.Change{{Member: am, Reason: client.ReasonJoin}}}, a)
	deliver(client.View{Group: "g", Members: []client.Member{bm}, Joined: []client.Change{{Member: bm, Reason: client.ReasonJoin}}}, b)
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		if m.Sender.Node == 1 {
			deliver(m, a)
		} else {
			deliver(m, b)
		}
	}
	if !a.synced || !b.synced {
		t.Fatal("not synced alone")
	}
	// The merge.
	deliver(client.View{Group: "g", Members: []client.Member{am, bm}, Joined: []client.Change{{Member: bm, Reason: client.ReasonNodeUp}}}, a)
	deliver(client.View{Group: "g", Members: []client.Member{am, bm}, Joined: []client.Change{{Member: am, Reason: client.ReasonNodeUp}}}, b)
	if len(queue) != 0 {
		t.Fatalf("the merge made them send %d messages", len(queue))
	}
	c := newRoom(keyOf(cm), 100, 1<<20)
	deliver(client.View{Group: "g", Members: []client.Member{am, bm, cm}, Joined: []client.Change{{Member: cm, Reason: client.ReasonJoin}}}, a, b, c)
	for i := 0; len(queue) > 0; i++ {
		if i > 100 {
			t.Fatal("they keep sending")
		}
		m := queue[0]
		queue = queue[1:]
		deliver(m, a, b, c)
	}
	want := screen([]string{"* alice joined (node 1)", "* bob joined (node-up, node 2)"}, "* carol joined (node 3)")
	if !slices.Equal(screens[c], want) {
		t.Errorf("carol's screen %q, want %q", screens[c], want)
	}
	for _, r := range []*room{a, b, c} {
		for _, k := range r.order {
			if !r.peers[k].eligible {
				t.Errorf("%v does not know %v eligible", r.self, k)
			}
		}
	}
}

// TestHistoryFits: an answer never exceeds the daemon's largest message; it drops the
// oldest lines.
func TestHistoryFits(t *testing.T) {
	for _, size := range []int{5, 40, 300, 70000} {
		r := newRoom(key{1, 1}, 100, 4096)
		var lines []string
		for i := range 60 {
			lines = append(lines, fmt.Sprintf("%03d %s", i, strings.Repeat("x", size)))
		}
		h := r.fit(historyMsg{To: wireMember{Node: 1, Session: 2}, Nonce: 1, Lines: lines, Eligible: []wireMember{{Node: 1, Session: 1}}})
		n := len(encodeHistory(h))
		if n > r.maxMsg || !slices.Equal(h.Lines, lines[len(lines)-len(h.Lines):]) {
			t.Errorf("lines of %d bytes: %d bytes, %d lines kept", size, n, len(h.Lines))
		}
		if size < 100 && len(h.Lines) == 0 {
			t.Errorf("lines of %d bytes: none kept", size)
		}
	}
}
