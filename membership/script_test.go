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
	"github.com/totem-gcs/totem/multicast/wire"
)

// TestScripts runs the membership specifications in testdata/scripts: each file is a
// script of commands over a few membership.Machines on a perfect, zero-latency network
// driven by a virtual clock, and each command's output (what the machines did) is
// compared with the file's. The output is what an operator would want to read: state
// changes with their reasons, configurations, deliveries. Rewrite the expected outputs
// after an intended change with
//
//	go test ./membership -run TestScripts -rewrite
//
// and read the diff: it is the change in behaviour.
//
// Commands:
//
//	nodes ids=1,2,3 [token=500ms]   machines, started now (a restart keeps its ring seq)
//	run for=2s                      deliver packets in order and fire timers, up to 2s on
//	submit node=1 data=x [safe]     an application message
//	partition 1,2/3                 the groups cannot hear each other; heal ends it
//	cut from=3 to=1                 one way: 1 no longer hears 3
//	crash 2 / restart 2 / leave 2   a crash (its packets in flight are lost), a restart
//	                                from its stored ring seq, a graceful leave
//	status                          each live node's state, ring and members
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/scripts", func(t *testing.T, path string) {
		s := &script{t: t, nodes: map[wire.NodeID]*scriptNode{}, cut: map[[2]wire.NodeID]bool{}}
		datadriven.RunTest(t, path, s.do)
	})
}

type script struct {
	t        *testing.T
	now      time.Duration
	token    time.Duration
	nodes    map[wire.NodeID]*scriptNode
	inflight []inflight
	cut      map[[2]wire.NodeID]bool // {from, to}: to does not hear from
	out      strings.Builder
}

type scriptNode struct {
	m       *membership.Machine
	alive   bool
	ringSeq uint64 // as stored: what a restart starts from
}

type inflight struct {
	from, to wire.NodeID
	p        wire.Packet
}

func (s *script) do(t *testing.T, d *datadriven.TestData) string {
	s.out.Reset()
	switch d.Cmd {
	case "nodes":
		s.token = 500 * time.Millisecond
		if d.HasArg("token") {
			s.token = durationArg(t, d, "token")
		}
		for _, id := range idsArg(t, d, "ids") {
			s.nodes[id] = &scriptNode{}
			s.start(id)
		}
		s.drain()
	case "run":
		s.run(s.now + durationArg(t, d, "for"))
	case "submit":
		id := idsArg(t, d, "node")[0]
		var data string
		d.ScanArgs(t, "data", &data)
		g := wire.Agreed
		if d.HasArg("safe") {
			g = wire.Safe
		}
		if err := s.nodes[id].m.Submit(s.now, []byte(data), g); err != nil {
			fmt.Fprintf(&s.out, "n%d: submit: %v\n", id, err)
		}
		s.drain()
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
	case "cut":
		s.cut[[2]wire.NodeID{idsArg(t, d, "from")[0], idsArg(t, d, "to")[0]}] = true
	case "crash":
		id := parseIDs(t, d.CmdArgs[0].Key)[0]
		s.nodes[id].alive = false
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
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	if s.out.Len() == 0 {
		return "ok\n"
	}
	return s.out.String()
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
}

func (s *script) ids() []wire.NodeID {
	ids := make([]wire.NodeID, 0, len(s.nodes))
	for id := range s.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// drain takes every live machine's Ready: what it says goes to the output, what it
// sends goes in flight.
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
			fmt.Fprintf(&s.out, "%v n%d: %v -> %v ring=%v: %s\n", s.now, id, tr.From, tr.To, tr.Ring, tr.Reason)
		}
		for _, ev := range rd.Events {
			switch {
			case ev.Config != nil:
				c := ev.Config
				kind := "regular"
				if c.Transitional {
					kind = "transitional"
				}
				fmt.Fprintf(&s.out, "%v n%d: %s configuration ring=%v members=%v left=%v joined=%v\n", s.now, id, kind, c.Ring, c.Members, c.Left, c.Joined)
			case ev.Msg != nil:
				fmt.Fprintf(&s.out, "%v n%d: deliver %q from n%d (%v, ring %v seq %d)\n", s.now, id, ev.Msg.Payload, ev.Msg.Origin, ev.Msg.Guarantee, ev.Msg.Ring, ev.Msg.Seq)
			}
		}
		for _, p := range rd.Multicast {
			for _, to := range s.ids() {
				if to != id {
					s.inflight = append(s.inflight, inflight{id, to, p})
				}
			}
		}
		for _, u := range rd.Unicast {
			s.inflight = append(s.inflight, inflight{id, u.To, u.Packet})
		}
	}
}

// run delivers packets in the order they were sent, at once, and fires each timer at
// its deadline, until end.
func (s *script) run(end time.Duration) {
	for steps := 0; ; steps++ {
		if steps > 1_000_000 {
			s.t.Fatalf("no quiet point after a million steps at %v", s.now)
		}
		s.drain()
		if len(s.inflight) > 0 {
			f := s.inflight[0]
			s.inflight = s.inflight[1:]
			if n := s.nodes[f.to]; n.alive && !s.cut[[2]wire.NodeID{f.from, f.to}] {
				n.m.Step(s.now, f.from, f.p)
			}
			continue
		}
		next := time.Duration(-1)
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
