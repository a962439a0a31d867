package membership_test

import (
	"slices"
	"testing"
	"time"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/multicast/wire"
)

// pair runs two machines over a perfect, instant network until both are operational,
// collecting every transition each reports.
type pair struct {
	t     *testing.T
	m     map[wire.NodeID]*membership.Machine
	trans map[wire.NodeID][]membership.Transition
	now   time.Duration
	cut   bool // nothing is delivered any more
}

func newPair(t *testing.T) *pair {
	p := &pair{t: t, m: map[wire.NodeID]*membership.Machine{}, trans: map[wire.NodeID][]membership.Transition{}}
	for _, id := range []wire.NodeID{1, 2} {
		cfg := membership.DefaultConfig(id)
		cfg.SetTokenTimeout(500 * time.Millisecond)
		m, err := membership.New(cfg, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		p.m[id] = m
	}
	for p.now < 5*time.Second {
		p.step(time.Millisecond)
		if p.m[1].Status().State == membership.Operational && p.m[2].Status().State == membership.Operational &&
			len(p.m[1].Status().Members) == 2 {
			return p
		}
	}
	t.Fatal("the pair never formed a ring of two")
	return nil
}

// step advances the clock by d, ticks both machines and delivers what they send.
func (p *pair) step(d time.Duration) {
	p.now += d
	for _, id := range []wire.NodeID{1, 2} {
		p.m[id].Tick(p.now)
	}
	for moved := true; moved; {
		moved = false
		for _, id := range []wire.NodeID{1, 2} {
			other := 3 - id
			rd := p.m[id].Ready()
			p.trans[id] = append(p.trans[id], rd.Transitions...)
			if p.cut {
				continue
			}
			for _, pkt := range rd.Multicast {
				p.m[other].Step(p.now, id, pkt)
				moved = true
			}
			for _, u := range rd.Unicast {
				if u.To == other {
					p.m[other].Step(p.now, id, u.Packet)
					moved = true
				}
			}
		}
	}
}

func (p *pair) failuresOf(id wire.NodeID) []membership.Transition {
	var out []membership.Transition
	for _, tr := range p.trans[id] {
		if tr.Failure {
			out = append(out, tr)
		}
	}
	return out
}

// A lost token is reported as a failure that says how long the token was awaited and
// which node should have passed it.
func TestTokenLossNamesThePredecessorAndTheWait(t *testing.T) {
	p := newPair(t)
	if f := p.failuresOf(1); len(f) != 0 {
		t.Fatalf("failures while forming: %+v", f)
	}
	p.cut = true
	for range 700 {
		p.step(time.Millisecond)
	}
	f := p.failuresOf(1)
	if len(f) == 0 {
		t.Fatalf("no failure reported after 700ms without traffic; transitions %+v", p.trans[1])
	}
	first := f[0]
	if first.From != membership.Operational || first.To != membership.Gather || !slices.Equal(first.Suspects, []wire.NodeID{2}) ||
		first.Waited < 500*time.Millisecond || first.Waited > 600*time.Millisecond {
		t.Fatalf("first failure %+v; want operational -> gather, suspect 2, waited about the 500ms token timeout", first)
	}
}

// Nodes that never agree are named when the consensus timeout gives up on them.
func TestConsensusTimeoutNamesTheSilent(t *testing.T) {
	cfg := membership.DefaultConfig(1)
	m, err := membership.New(cfg, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	m.Ready()
	// Node 2 is heard once, gathering with a different view, and never again.
	m.Step(time.Millisecond, 2, &wire.Join{ProcSet: []wire.NodeID{2}})
	var got []membership.Transition
	for now := 2 * time.Millisecond; now < cfg.Consensus+time.Second; now += 10 * time.Millisecond {
		m.Tick(now)
		got = append(got, m.Ready().Transitions...)
	}
	for _, tr := range got {
		if tr.Failure && slices.Equal(tr.Suspects, []wire.NodeID{2}) && tr.Waited == cfg.Consensus {
			return
		}
	}
	t.Fatalf("no consensus failure naming node 2 after %v: %+v", cfg.Consensus, got)
}
