package membership_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/membership/clustersim"
	"github.com/totem-gcs/totem/multicast/wire"
)

// TestScripts runs the membership specifications in testdata/scripts: each file is a
// script of commands over a few membership.Machines on a perfect network (zero latency
// unless a script sets one)
// driven by a virtual clock, and each command's output (what the machines did) is
// compared with the file's. The output is what an operator would want to read: state
// changes with their reasons, configurations, deliveries (a run of consecutive messages
// of one origin on one line). After the last command of a file every node's log is
// checked against EVS (clustersim.CheckEVS), as the simulations check theirs. Rewrite the
// expected outputs after an intended change with
//
//	go test ./membership -run TestScripts -rewrite
//
// and read the diff: it is the change in behaviour.
//
// Commands:
//
//	nodes ids=1,2,3 [token=500ms] [latency=0s]
//	                                machines, started now (a restart keeps its ring
//	                                seq); every packet takes latency to arrive
//	run for=2s [until=2:recovery] [steps=5]
//	                                deliver packets in order and fire timers, up to 2s on,
//	                                until node 2 enters state recovery, or for 5 packets
//	                                and timer firings
//	submit node=1 data=x [safe] [count=40]
//	                                an application message (count: x-1 .. x-40)
//	partition 1,2/3                 the groups cannot hear each other; heal ends it
//	cut from=3 to=1                 one way: 1 no longer hears 3
//	drop [from=4] [to=1] [kind=mcast] [ring=1.5 seqs=1..20] [count=20]
//	                                lose packets (of one sender, to one receiver, of one
//	                                kind: token mcast join commit-token merge-detect; the
//	                                messages of one ring, in a range of seqs), the next
//	                                count of them or until heal
//	inject from=1 to=3 join proc=1,3 fail=5 seq=9
//	inject from=1 to=3 mcast ring=1.9 seq=4 data=x [safe]
//	                                hand node 3 a packet as if node 1 had sent it (node 1
//	                                need not be one of the script's nodes)
//	trace kinds=join,commit-token   print every packet of these kinds as it is sent
//	crash 2 / restart 2 / leave 2   a crash (its packets in flight are lost), a restart
//	                                from its stored ring seq, a graceful leave
//	status                          each live node's state, ring and members
//	check                           the EVS properties over every log so far
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/scripts", func(t *testing.T, path string) {
		s := &script{t: t, nodes: map[wire.NodeID]*scriptNode{}, cut: map[[2]wire.NodeID]bool{},
			sent: map[string]clustersim.MsgID{}, trace: map[wire.Kind]bool{}}
		datadriven.RunTest(t, path, s.do)
		if vs := clustersim.CheckEVS(s.history); len(vs) > 0 {
			t.Errorf("%s: EVS violated:\n%s", path, violationLines(vs))
		}
	})
}

type script struct {
	t        *testing.T
	now      time.Duration
	token    time.Duration
	latency  time.Duration // of every packet
	nodes    map[wire.NodeID]*scriptNode
	inflight []inflight
	cut      map[[2]wire.NodeID]bool // {from, to}: to does not hear from
	drops    []*dropRule
	trace    map[wire.Kind]bool
	until    func() bool // run stops once it holds

	history clustersim.History
	sent    map[string]clustersim.MsgID // payload -> the message's identity
	counter map[wire.NodeID]uint64

	out  strings.Builder
	runs []*deliveryRun // deliveries not yet written, one open run per node
}

type scriptNode struct {
	m       *membership.Machine
	alive   bool
	ringSeq uint64 // as stored: what a restart starts from
}

type inflight struct {
	from, to wire.NodeID
	p        wire.Packet
	at       time.Duration // when it arrives
}

// dropRule loses packets: of one sender (from 0: any), to one receiver (to 0: any), of
// one kind (0: any), the next left of them (left < 0: until heal).
type dropRule struct {
	from, to wire.NodeID
	kind     wire.Kind
	ring     wire.RingID // mcasts of this ring only (zero: any)
	lo, hi   wire.Seq    // mcasts with seq in lo..hi only (hi 0: any)
	left     int
}

func (r *dropRule) matches(f inflight) bool {
	if r.left == 0 || (r.from != 0 && r.from != f.from) || (r.to != 0 && r.to != f.to) || (r.kind != 0 && r.kind != f.p.Kind()) {
		return false
	}
	if r.ring != (wire.RingID{}) || r.hi != 0 {
		m, ok := f.p.(*wire.Mcast)
		if !ok || (r.ring != (wire.RingID{}) && m.Ring != r.ring) || (r.hi != 0 && (m.Seq < r.lo || m.Seq > r.hi)) {
			return false
		}
	}
	return true
}

func (s *script) do(t *testing.T, d *datadriven.TestData) string {
	s.out.Reset()
	switch d.Cmd {
	case "nodes":
		s.token = 500 * time.Millisecond
		if d.HasArg("token") {
			s.token = durationArg(t, d, "token")
		}
		if d.HasArg("latency") {
			s.latency = durationArg(t, d, "latency")
		}
		for _, id := range idsArg(t, d, "ids") {
			s.nodes[id] = &scriptNode{}
			s.start(id)
		}
		s.drain()
	case "run":
		s.until = nil
		if d.HasArg("until") {
			s.until = untilArg(t, d, s)
		}
		steps := -1
		if d.HasArg("steps") {
			d.ScanArgs(t, "steps", &steps)
		}
		s.run(s.now+durationArg(t, d, "for"), steps)
	case "submit":
		s.submit(t, d)
	case "partition":
		groups := strings.Split(d.CmdArgs[0].Key, "/")
		var sides [][]wire.NodeID
		for _, g := range groups {
			sides = append(sides, parseIDs(t, g))
		}
		for i, a := range sides {
			for j, b := range sides {
				if i == j {
					continue
				}
				for _, x := range a {
					for _, y := range b {
						s.cut[[2]wire.NodeID{x, y}] = true
					}
				}
			}
		}
	case "heal":
		clear(s.cut)
		s.drops = nil
	case "cut":
		s.cut[[2]wire.NodeID{idsArg(t, d, "from")[0], idsArg(t, d, "to")[0]}] = true
	case "drop":
		r := &dropRule{left: -1}
		if d.HasArg("from") {
			r.from = idsArg(t, d, "from")[0]
		}
		if d.HasArg("ring") {
			r.ring = ringArg(t, d, "ring")
		}
		if d.HasArg("seqs") {
			var text string
			d.ScanArgs(t, "seqs", &text)
			lo, hi, _ := strings.Cut(text, "..")
			a, err1 := strconv.ParseUint(lo, 10, 64)
			b, err2 := strconv.ParseUint(hi, 10, 64)
			if err1 != nil || err2 != nil || a == 0 || b < a {
				t.Fatalf("%s: seqs=%q: want a range, as 1..20", d.Pos, text)
			}
			r.lo, r.hi = wire.Seq(a), wire.Seq(b)
		}
		if d.HasArg("to") {
			r.to = idsArg(t, d, "to")[0]
		}
		if d.HasArg("kind") {
			var k string
			d.ScanArgs(t, "kind", &k)
			r.kind = kindOf(t, d, k)
		}
		if d.HasArg("count") {
			d.ScanArgs(t, "count", &r.left)
		}
		s.drops = append(s.drops, r)
	case "trace":
		clear(s.trace)
		for _, a := range d.CmdArgs {
			if a.Key == "kinds" {
				for _, k := range strings.Split(strings.Join(a.Vals, ","), ",") {
					s.trace[kindOf(t, d, k)] = true
				}
			}
		}
	case "inject":
		s.inject(t, d)
	case "crash":
		id := parseIDs(t, d.CmdArgs[0].Key)[0]
		s.nodes[id].alive = false
		s.history.Add(id, clustersim.Event{Kind: clustersim.EventCrash, At: s.now})
		s.inflight = slices.DeleteFunc(s.inflight, func(f inflight) bool { return f.from == id || f.to == id })
	case "restart":
		id := parseIDs(t, d.CmdArgs[0].Key)[0]
		s.start(id)
		s.drain()
	case "leave":
		id := parseIDs(t, d.CmdArgs[0].Key)[0]
		s.nodes[id].m.Leave(s.now)
		s.drain()
	case "status":
		for _, id := range s.ids() {
			if n := s.nodes[id]; n.alive {
				st := n.m.Status()
				fmt.Fprintf(&s.out, "n%d: %v ring=%v members=%v\n", id, st.State, st.Ring, st.Members)
			}
		}
	case "check":
		if vs := clustersim.CheckEVS(s.history); len(vs) > 0 {
			s.out.WriteString(violationLines(vs))
		} else {
			s.out.WriteString("EVS holds\n")
		}
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	s.flushRuns()
	if s.out.Len() == 0 {
		return "ok\n"
	}
	return s.out.String()
}

func (s *script) submit(t *testing.T, d *datadriven.TestData) {
	id := idsArg(t, d, "node")[0]
	var data string
	d.ScanArgs(t, "data", &data)
	g := wire.Agreed
	if d.HasArg("safe") {
		g = wire.Safe
	}
	payloads := []string{data}
	if d.HasArg("count") {
		var count int
		d.ScanArgs(t, "count", &count)
		payloads = payloads[:0]
		for i := 1; i <= count; i++ {
			payloads = append(payloads, fmt.Sprintf("%s-%d", data, i))
		}
	}
	for _, p := range payloads {
		if _, dup := s.sent[p]; dup {
			t.Fatalf("%s: data %q was sent before: each message needs its own", d.Pos, p)
		}
		if err := s.nodes[id].m.Submit(s.now, []byte(p), g); err != nil {
			fmt.Fprintf(&s.out, "n%d: submit %q: %v\n", id, p, err)
			continue
		}
		s.sendEvent(id, p, g)
	}
	s.drain()
}

// sendEvent gives a message its identity and logs its sending.
func (s *script) sendEvent(id wire.NodeID, payload string, g wire.Guarantee) {
	if s.counter == nil {
		s.counter = map[wire.NodeID]uint64{}
	}
	s.counter[id]++
	msg := clustersim.MsgID{Origin: id, Counter: s.counter[id]}
	s.sent[payload] = msg
	s.history.Add(id, clustersim.Event{Kind: clustersim.EventSend, Msg: msg, Safe: g == wire.Safe, At: s.now})
}

// inject steps one node with a packet made up by the script: a join.
func (s *script) inject(t *testing.T, d *datadriven.TestData) {
	from, to := idsArg(t, d, "from")[0], idsArg(t, d, "to")[0]
	n := s.nodes[to]
	if n == nil || !n.alive {
		t.Fatalf("%s: inject: node %d is not running", d.Pos, to)
	}
	if d.HasArg("mcast") {
		var data string
		var seq uint64
		d.ScanArgs(t, "data", &data)
		d.ScanArgs(t, "seq", &seq)
		m := &wire.Mcast{Ring: ringArg(t, d, "ring"), Seq: wire.Seq(seq), Origin: from, Payload: []byte(data)}
		if d.HasArg("safe") {
			m.Guarantee = wire.Safe
		}
		if _, dup := s.sent[data]; !dup {
			s.sendEvent(from, data, m.Guarantee)
		}
		n.m.Step(s.now, from, m)
		s.drain()
		return
	}
	if !d.HasArg("join") {
		t.Fatalf("%s: inject: a join or an mcast", d.Pos)
	}
	j := &wire.Join{ProcSet: idsArg(t, d, "proc")}
	if d.HasArg("fail") {
		j.FailSet = idsArg(t, d, "fail")
	}
	if d.HasArg("seq") {
		d.ScanArgs(t, "seq", &j.RingSeq)
	}
	n.m.Step(s.now, from, j)
	s.drain()
}

// start (re)starts node id from its stored ring seq.
func (s *script) start(id wire.NodeID) {
	cfg := membership.DefaultConfig(id)
	cfg.SetTokenTimeout(s.token)
	m, err := membership.New(cfg, s.nodes[id].ringSeq, s.now)
	if err != nil {
		s.t.Fatal(err)
	}
	s.nodes[id].m, s.nodes[id].alive = m, true
	s.history.Add(id, clustersim.Event{Kind: clustersim.EventStart, At: s.now})
}

func (s *script) ids() []wire.NodeID {
	ids := make([]wire.NodeID, 0, len(s.nodes))
	for id := range s.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// drain takes every live machine's Ready: what it says goes to the output and the
// node's log, what it sends goes in flight.
func (s *script) drain() {
	for _, id := range s.ids() {
		n := s.nodes[id]
		if !n.alive {
			continue
		}
		rd := n.m.Ready()
		if rd.RingSeq != 0 {
			n.ringSeq = rd.RingSeq
		}
		for _, tr := range rd.Transitions {
			s.line(id, "%v n%d: %v -> %v ring=%v: %s\n", s.now, id, tr.From, tr.To, tr.Ring, tr.Reason)
		}
		for _, ev := range rd.Events {
			switch {
			case ev.Config != nil:
				c := ev.Config
				kind := "regular"
				if c.Transitional {
					kind = "transitional"
				}
				s.line(id, "%v n%d: %s configuration ring=%v members=%v left=%v joined=%v\n", s.now, id, kind, c.Ring, c.Members, c.Left, c.Joined)
				s.history.Add(id, clustersim.Event{Kind: clustersim.EventConfig, At: s.now, Conf: &clustersim.Configuration{
					Transitional: c.Transitional, Ring: c.Ring, Members: c.Members, Left: c.Left, Joined: c.Joined,
				}})
			case ev.Msg != nil:
				s.delivered(id, ev.Msg)
			}
		}
		for _, p := range rd.Multicast {
			s.traced(id, 0, p)
			for _, to := range s.ids() {
				if to != id {
					s.inflight = append(s.inflight, inflight{id, to, p, s.now + s.latency})
				}
			}
		}
		for _, u := range rd.Unicast {
			s.traced(id, u.To, u.Packet)
			s.inflight = append(s.inflight, inflight{id, u.To, u.Packet, s.now + s.latency})
		}
	}
}

// delivered logs a delivery and adds it to the node's open run of deliveries.
func (s *script) delivered(id wire.NodeID, msg *wire.Mcast) {
	payload := string(msg.Payload)
	mid, ok := s.sent[payload]
	if !ok {
		s.t.Fatalf("n%d delivered %q, which no script command sent", id, payload)
	}
	s.history.Add(id, clustersim.Event{Kind: clustersim.EventDeliver, Msg: mid, Safe: msg.Guarantee == wire.Safe,
		Ring: msg.Ring, Seq: msg.Seq, At: s.now})
	for _, r := range s.runs {
		if r.node == id {
			if r.extend(s.now, msg) {
				return
			}
			s.flushRun(r)
			break
		}
	}
	s.runs = append(s.runs, &deliveryRun{node: id, first: msg, last: msg, from: s.now, to: s.now})
}

// line writes one line of node id's output, after the deliveries it made before.
func (s *script) line(id wire.NodeID, format string, args ...any) {
	for _, r := range s.runs {
		if r.node == id {
			s.flushRun(r)
			break
		}
	}
	fmt.Fprintf(&s.out, format, args...)
}

// deliveryRun is consecutive deliveries at one node of messages of one origin, ring and
// guarantee, with consecutive seqs and payloads x-k, x-k+1, ...
type deliveryRun struct {
	node        wire.NodeID
	first, last *wire.Mcast
	from, to    time.Duration
}

func (r *deliveryRun) extend(now time.Duration, msg *wire.Mcast) bool {
	if msg.Origin != r.last.Origin || msg.Ring != r.last.Ring || msg.Guarantee != r.last.Guarantee || msg.Seq != r.last.Seq+1 {
		return false
	}
	prefix, k, ok := counted(string(r.last.Payload))
	if p2, k2, ok2 := counted(string(msg.Payload)); !ok || !ok2 || p2 != prefix || k2 != k+1 {
		return false
	}
	r.last, r.to = msg, now
	return true
}

// counted splits "x-12" into "x" and 12.
func counted(payload string) (string, int, bool) {
	i := strings.LastIndexByte(payload, '-')
	if i < 0 {
		return "", 0, false
	}
	k, err := strconv.Atoi(payload[i+1:])
	return payload[:i], k, err == nil
}

func (s *script) flushRun(r *deliveryRun) {
	at := r.from.String()
	if r.to != r.from {
		at += ".." + r.to.String()
	}
	if r.first == r.last {
		fmt.Fprintf(&s.out, "%s n%d: deliver %q from n%d (%v, ring %v seq %d)\n", at, r.node, r.first.Payload, r.first.Origin, r.first.Guarantee, r.first.Ring, r.first.Seq)
	} else {
		fmt.Fprintf(&s.out, "%s n%d: deliver %q..%q from n%d (%v, ring %v seq %d..%d)\n", at, r.node, r.first.Payload, r.last.Payload, r.first.Origin, r.first.Guarantee, r.first.Ring, r.first.Seq, r.last.Seq)
	}
	s.runs = slices.DeleteFunc(s.runs, func(x *deliveryRun) bool { return x == r })
}

func (s *script) flushRuns() {
	for len(s.runs) > 0 {
		s.flushRun(s.runs[0])
	}
}

// traced prints a sent packet whose kind is traced (to 0: multicast).
func (s *script) traced(from, to wire.NodeID, p wire.Packet) {
	if !s.trace[p.Kind()] {
		return
	}
	dest := "all"
	if to != 0 {
		dest = "n" + to.String()
	}
	var what string
	switch p := p.(type) {
	case *wire.Join:
		what = fmt.Sprintf("proc=%v fail=%v seq=%d", p.ProcSet, p.FailSet, p.RingSeq)
		if p.Leave {
			what += " leave"
		}
	case *wire.CommitToken:
		var filled []wire.NodeID
		for _, cm := range p.Members {
			if cm.Filled {
				filled = append(filled, cm.Node)
			}
		}
		what = fmt.Sprintf("ring=%v filled=%v", p.Ring, filled)
	case *wire.Token:
		what = fmt.Sprintf("seq=%d aru=%d backlog=%d retrans=%t", p.Seq, p.Aru, p.Backlog, p.RetransFlag)
	case *wire.Mcast:
		what = fmt.Sprintf("%q ring=%v seq=%d", p.Payload, p.Ring, p.Seq)
		if p.Recovered != nil {
			what = fmt.Sprintf("recovering %q of ring %v seq %d, ring=%v seq=%d", p.Recovered.Payload, p.Recovered.Ring, p.Recovered.Seq, p.Ring, p.Seq)
		}
	case *wire.MergeDetect:
		what = fmt.Sprintf("ring=%v", p.Ring)
	}
	s.line(from, "%v n%d -> %s: %v %s\n", s.now, from, dest, p.Kind(), what)
}

// lost reports whether the network loses f: a cut, or a drop rule (which it counts).
func (s *script) lost(f inflight) bool {
	if s.cut[[2]wire.NodeID{f.from, f.to}] {
		return true
	}
	for _, r := range s.drops {
		if r.matches(f) {
			if r.left > 0 {
				r.left--
			}
			return true
		}
	}
	return false
}

// run delivers packets in the order they were sent, at once, and fires each timer at
// its deadline, until end, until s.until holds, or for maxSteps packets and timer
// firings (maxSteps < 0: no limit).
func (s *script) run(end time.Duration, maxSteps int) {
	for steps := 0; ; steps++ {
		if steps > 1_000_000 {
			s.t.Fatalf("no quiet point after a million steps at %v", s.now)
		}
		s.drain()
		if (s.until != nil && s.until()) || steps == maxSteps {
			return
		}
		if len(s.inflight) > 0 && s.inflight[0].at <= s.now {
			f := s.inflight[0]
			s.inflight = s.inflight[1:]
			if n := s.nodes[f.to]; n.alive && !s.lost(f) {
				n.m.Step(s.now, f.from, f.p)
			}
			continue
		}
		next := time.Duration(-1)
		if len(s.inflight) > 0 {
			next = s.inflight[0].at
		}
		for _, id := range s.ids() {
			if n := s.nodes[id]; n.alive {
				if dl := n.m.Deadline(); dl > 0 && (next < 0 || dl < next) {
					next = dl
				}
			}
		}
		if next < 0 || next > end {
			s.now = end
			return
		}
		s.now = max(s.now, next)
		for _, id := range s.ids() {
			if n := s.nodes[id]; n.alive && n.m.Deadline() > 0 && n.m.Deadline() <= s.now {
				n.m.Tick(s.now)
			}
		}
	}
}

// untilArg parses until=2:recovery: node 2 is in state recovery.
func untilArg(t *testing.T, d *datadriven.TestData, s *script) func() bool {
	var text string
	d.ScanArgs(t, "until", &text)
	node, state, ok := strings.Cut(text, ":")
	if !ok {
		t.Fatalf("%s: until=%q: want node:state, as 2:recovery", d.Pos, text)
	}
	id := parseIDs(t, node)[0]
	return func() bool {
		n := s.nodes[id]
		return n != nil && n.alive && n.m.Status().State.String() == state
	}
}

// ringArg parses ring=1.9: representative 1, seq 9.
func ringArg(t *testing.T, d *datadriven.TestData, key string) wire.RingID {
	var text string
	d.ScanArgs(t, key, &text)
	rep, seq, ok := strings.Cut(text, ".")
	r, err1 := strconv.ParseUint(rep, 10, 32)
	q, err2 := strconv.ParseUint(seq, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("%s: %s=%q: want a ring id, as 1.9", d.Pos, key, text)
	}
	return wire.RingID{Rep: wire.NodeID(r), Seq: q}
}

func kindOf(t *testing.T, d *datadriven.TestData, name string) wire.Kind {
	for k := wire.Kind(1); k < 16; k++ {
		if k.String() == name {
			return k
		}
	}
	t.Fatalf("%s: packet kind %q: want token, mcast, join, commit-token or merge-detect", d.Pos, name)
	return 0
}

func violationLines(vs []clustersim.Violation) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString(v.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func durationArg(t *testing.T, d *datadriven.TestData, key string) time.Duration {
	var text string
	d.ScanArgs(t, key, &text)
	v, err := time.ParseDuration(text)
	if err != nil {
		t.Fatalf("%s: %s=%q: %v", d.Pos, key, text, err)
	}
	return v
}

func idsArg(t *testing.T, d *datadriven.TestData, key string) []wire.NodeID {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return parseIDs(t, strings.Join(a.Vals, ","))
		}
	}
	t.Fatalf("%s: missing %s=", d.Pos, key)
	return nil
}

func parseIDs(t *testing.T, text string) []wire.NodeID {
	var ids []wire.NodeID
	for _, f := range strings.Split(text, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 32)
		if err != nil || n == 0 {
			t.Fatalf("node id %q: want 1..4294967295", f)
		}
		ids = append(ids, wire.NodeID(n))
	}
	return ids
}
