//go:build linux

package netlab_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/totem-gcs/totem/demo/localring"
	"github.com/totem-gcs/totem/demo/netlab"
	"github.com/totem-gcs/totem/membership"
)

// The fault suite: real totemd processes in network namespaces, real UDP across a
// bridge, clients on the real Unix sockets; faults injected while every node carries
// load; every delivery and view checked afterwards (check.go).

var binDir string // totemd, built once by TestMain

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if mode := os.Getenv(attackEnv); mode != "" { // the attacker, in its namespace
		return attack(mode)
	}
	if netlab.Available() == nil {
		netlab.Sweep() // what killed runs left
		dir, err := localring.ShortDir("netlab")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := localring.Build(ctx, dir, false, "github.com/totem-gcs/totem/cmd/totemd"); err != nil {
			fmt.Fprintln(os.Stderr, "netlab: building totemd:", err)
			return 1
		}
		binDir = dir
	}
	return m.Run()
}

// tokenTimeout is the daemons' token timeout in the suite: short, so that faults are
// noticed within a second, long enough for a loaded 2-CPU machine.
const tokenTimeout = 500 * time.Millisecond

// cluster is a LAN, a ring of daemons on it and the load on the ring.
type cluster struct {
	t    *testing.T
	lan  *netlab.LAN
	ring *localring.Ring
	load *load
}

// newCluster builds a LAN of n nodes and starts a ring on it: multicast or udpu.
func newCluster(t *testing.T, n int, multicast bool, extra ...string) *cluster {
	t.Helper()
	return newClusterOn(t, n, n, multicast, extra...)
}

// newClusterOn builds a LAN of lanNodes nodes and starts a ring on the first n.
func newClusterOn(t *testing.T, lanNodes, n int, multicast bool, extra ...string) *cluster {
	t.Helper()
	if err := netlab.Available(); err != nil {
		t.Skipf("the fault suite needs network namespaces: %v (CI runs it as root)", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	lan, err := netlab.Up(ctx, lanNodes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lan.Close(); err != nil {
			t.Error(err)
		}
	})
	dir, err := localring.ShortDir("nl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	args := extra
	if !slices.Contains(extra, "--key-file") {
		args = append([]string{"--unauthenticated"}, extra...)
	}
	mcast := ""
	if multicast {
		mcast = netlab.MulticastGroup.String() + ":5405"
		args = append(args, "--interface", netlab.Iface)
	}
	r, err := localring.New(localring.Options{
		Mcast:  mcast,
		Totemd: filepath.Join(binDir, "totemd"), Dir: dir, Nodes: n, TokenTimeout: tokenTimeout,
		Namespace: lan.Namespace,
		Addr:      func(id int) string { return lan.Addr(id).String() + ":5405" },
		Args:      args,
		// One cluster file for every node, as on real hosts: each daemon finds its
		// entry by the address its namespace has.
		ClusterFile: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, lan: lan, ring: r}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			for _, nd := range r.Nodes {
				t.Logf("node %d log:\n%s", nd.ID, tail(nd.Log(), 60))
			}
		}
	})
	for _, nd := range r.Nodes {
		if err := r.StartNode(nd); err != nil {
			t.Fatal(err)
		}
	}
	c.waitRing(r.Nodes...)
	for _, nd := range r.Nodes {
		if want := fmt.Sprintf(`node=%d found="by its address %s`, nd.ID, lan.Addr(nd.ID)); !strings.Contains(nd.Log(), want) {
			t.Fatalf("node %d did not find itself in the cluster file by its address (no %q in its log)", nd.ID, want)
		}
	}
	c.load = startLoad(t, r)
	return c
}

func tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// waitRing waits until ns form one ring and returns how long that took.
func (c *cluster) waitRing(ns ...*localring.Node) time.Duration {
	c.t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(c.t.Context(), 60*time.Second)
	defer cancel()
	if _, err := c.ring.WaitRing(ctx, ns...); err != nil {
		c.t.Fatalf("no ring of %v: %v", ids(ns), err)
	}
	took := time.Since(start)
	if bound := reformBound(); took > bound {
		c.t.Errorf("the ring of %v took %v to form, beyond the %v its timers imply", ids(ns), took, bound)
	}
	return took
}

// steadySettle is how long a steady phase waits before it counts acknowledgements.
const steadySettle = 250 * time.Millisecond

// reformBound is how long a ring may take to form after a fault begins or ends, from
// the timers every daemon runs with: the token timeout to notice a loss, the consensus
// timeout to give up on the silent, a merge announcement to notice the others, a few
// join rounds; all of it twice (one side may gather before it hears of the other and
// start again), and a second for scheduling on a loaded two-core CI host.
func reformBound() time.Duration {
	mc := membership.DefaultConfig(1)
	mc.SetTokenTimeout(tokenTimeout)
	return 2*(mc.Ring.TokenTimeout+mc.Consensus+mc.Merge+4*mc.Join) + time.Second
}

func (c *cluster) nodes(idList ...int) []*localring.Node {
	var ns []*localring.Node
	for _, id := range idList {
		ns = append(ns, c.ring.Node(id))
	}
	return ns
}

func ids(ns []*localring.Node) []int {
	var out []int
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

// steady runs the load for d with no fault, then checks that everything accepted in
// that time reached every listener.
func (c *cluster) steady(d time.Duration) {
	c.t.Helper()
	// A message acknowledged just before the ring became whole may have been sent in
	// the configuration before, and rightly not delivered to those outside it; its
	// acknowledgement can reach the client after the ring is whole. So the steady
	// phase begins once such stragglers have come in.
	time.Sleep(steadySettle)
	mark := c.load.mark()
	time.Sleep(d)
	c.load.quiesce(c.t, mark)
}

// finish stops the load and checks every log.
func (c *cluster) finish() {
	c.t.Helper()
	c.load.stop()
	if errs := check(c.load.logs()); len(errs) > 0 {
		for _, e := range errs[:min(len(errs), 20)] {
			c.t.Error(e)
		}
		c.t.Fatalf("%d violations", len(errs))
	}
	st := c.load.stats()
	c.t.Logf("%d messages accepted (%d safe), %d deliveries, %d views, %d sessions", st.accepted, st.safe, st.delivered, st.views, st.sessions)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFrameLoss(t *testing.T) {
	for _, percent := range []float64{1, 5, 20} {
		t.Run(fmt.Sprintf("%v%%", percent), func(t *testing.T) {
			c := newCluster(t, 3, true)
			c.steady(time.Second)
			must(t, c.lan.Loss(ctxFor(t), percent))
			time.Sleep(3 * time.Second)
			must(t, c.lan.Loss(ctxFor(t), 0))
			t.Logf("ring whole again %v after the loss ended", c.waitRing(c.ring.Nodes...))
			c.steady(time.Second)
			c.finish()
		})
	}
}

// TestDelayJitterDuplicationReordering runs the ring through a network that delays,
// jitters, duplicates and reorders datagrams (totemd's --impair test option wraps the
// real UDP transport; nftables cannot do it): nothing accepted is lost, nothing is
// delivered twice or out of order, and without loss the ring does not even re-form.
func TestDelayJitterDuplicationReordering(t *testing.T) {
	for _, tt := range []struct {
		name, impair string
		loss         float64 // percent, by nftables, on top
	}{
		{"delay 2ms jitter 2ms", "delay=2ms,jitter=2ms", 0},
		{"duplication 5%", "dup=0.05", 0},
		{"reordering 5%", "reorder=0.05", 0},
		{"all with 5% loss", "delay=1ms,jitter=1ms,dup=0.05,reorder=0.05", 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClusterOn(t, 3, 3, true, "--impair", tt.impair)
			ring := c.ringID()
			if tt.loss > 0 {
				must(t, c.lan.Loss(ctxFor(t), tt.loss))
			}
			c.steady(3 * time.Second)
			if tt.loss > 0 {
				must(t, c.lan.Loss(ctxFor(t), 0))
				t.Logf("ring whole %v after the loss ended", c.waitRing(c.ring.Nodes...))
				c.steady(time.Second)
			} else if id := c.ringID(); id != ring {
				t.Errorf("the ring re-formed under %s: %s -> %s", tt.name, ring, id)
			}
			for _, n := range c.ring.Nodes {
				if !strings.Contains(n.Log(), "IMPAIRED") {
					t.Errorf("node %d did not warn that it runs impaired", n.ID)
				}
			}
			c.finish()
		})
	}
}

func TestPartitionsHeal(t *testing.T) {
	for _, tt := range []struct {
		name   string
		groups [][]int
	}{
		{"2|3", [][]int{{1, 2}, {3, 4, 5}}},
		{"1|1|3", [][]int{{1}, {2}, {3, 4, 5}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, 5, false)
			c.steady(time.Second)
			must(t, c.lan.Partition(ctxFor(t), tt.groups...))
			for _, g := range tt.groups {
				t.Logf("side %v formed in %v", g, c.waitRing(c.nodes(g...)...))
			}
			time.Sleep(time.Second) // load on every side
			must(t, c.lan.Heal(ctxFor(t)))
			t.Logf("merged in %v", c.waitRing(c.ring.Nodes...))
			c.steady(time.Second)
			c.finish()
		})
	}
}

func TestOneWayCut(t *testing.T) {
	c := newCluster(t, 3, false)
	c.steady(time.Second)
	must(t, c.lan.CutOneWay(ctxFor(t), 1, 2)) // 2 no longer hears 1; 1 hears 2
	time.Sleep(3 * time.Second)
	must(t, c.lan.Heal(ctxFor(t)))
	t.Logf("ring whole again %v after the cut healed", c.waitRing(c.ring.Nodes...))
	c.steady(time.Second)
	c.finish()
}

func TestKillAndRestart(t *testing.T) {
	c := newCluster(t, 3, true)
	c.steady(time.Second)
	n3 := c.ring.Node(3)
	must(t, c.ring.Kill(n3))
	t.Logf("survivors re-formed in %v", c.waitRing(c.nodes(1, 2)...))
	time.Sleep(500 * time.Millisecond)
	must(t, c.ring.StartNode(n3))
	t.Logf("restarted node back in %v", c.waitRing(c.ring.Nodes...))
	c.load.reconnect(t, n3)
	c.steady(time.Second)
	c.finish()
}

func TestPauseBeyondTheTokenTimeout(t *testing.T) {
	c := newCluster(t, 3, false)
	c.steady(time.Second)
	n2 := c.ring.Node(2)
	must(t, c.ring.Signal(n2, syscall.SIGSTOP)) // a paused VM
	t.Logf("others re-formed in %v", c.waitRing(c.nodes(1, 3)...))
	time.Sleep(time.Second)
	must(t, c.ring.Signal(n2, syscall.SIGCONT))
	t.Logf("paused node back in %v", c.waitRing(c.ring.Nodes...))
	c.steady(time.Second)
	// The logs say what happened: a node that gave up on 2 warns and names it (which of
	// 1 and 3 notices first is a matter of timing); node 2 knows it was the one paused.
	blames2 := regexp.MustCompile(`level=WARN msg=membership .*suspects="?\[([0-9 ]* )?2( [0-9 ]*)?\]`)
	if !blames2.MatchString(c.ring.Node(1).Log()) && !blames2.MatchString(c.ring.Node(3).Log()) {
		t.Errorf("neither node 1 nor node 3 warned naming node 2:\n%s\n%s", tail(c.ring.Node(1).Log(), 12), tail(c.ring.Node(3).Log(), 12))
	}
	log := n2.Log()
	if !strings.Contains(log, "this node was not running") {
		t.Errorf("node 2 did not notice its own pause:\n%s", tail(log, 20))
	}
	// After the pause node 2 blames nobody else: any failure it reports (it may just
	// hear a join first and report none) names its own pause.
	if _, after, ok := strings.Cut(log, "this node was not running"); ok {
		for _, line := range strings.Split(after, "\n") {
			if strings.Contains(line, "level=WARN msg=membership") && !strings.Contains(line, "after_pause=") {
				t.Errorf("node 2 reports a failure after its pause without naming the pause: %s", line)
			}
		}
	}
	if testing.Verbose() {
		for _, n := range c.ring.Nodes {
			t.Logf("node %d:\n%s", n.ID, tail(n.Log(), 14))
		}
	}
	c.finish()
}

func TestFlappingLink(t *testing.T) {
	c := newCluster(t, 3, true)
	c.steady(time.Second)
	for i := range 3 { // each time long enough to be noticed
		must(t, c.lan.SetLink(ctxFor(t), 3, false))
		t.Logf("flap %d: the others re-formed in %v", i+1, c.waitRing(c.nodes(1, 2)...))
		must(t, c.lan.SetLink(ctxFor(t), 3, true))
		t.Logf("flap %d: node 3 back in %v", i+1, c.waitRing(c.ring.Nodes...))
	}
	c.steady(time.Second)
	c.finish()
}

func TestMTUBelowTheDatagramSize(t *testing.T) {
	// totemd cuts its 16 KiB datagrams into --mtu 1500 frames; the links carry 1280.
	c := newCluster(t, 3, true)
	for id := 1; id <= 3; id++ {
		must(t, c.lan.SetMTU(ctxFor(t), id, 1280))
	}
	c.steady(3 * time.Second)
	c.waitRing(c.ring.Nodes...)
	c.finish()
}

// TestSoak runs random faults, one after another, each healed and followed by a steady
// phase, for TOTEM_SOAK (a duration; default 15s, what CI runs) from the seed
// TOTEM_SOAK_SEED (default: the clock), which it prints first so that a failure can be
// run again.
func TestSoak(t *testing.T) {
	length := 15 * time.Second
	if v := os.Getenv("TOTEM_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("TOTEM_SOAK=%q: %v", v, err)
		}
		length = d
	}
	seed := time.Now().UnixNano()
	if v := os.Getenv("TOTEM_SOAK_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("TOTEM_SOAK_SEED=%q: %v", v, err)
		}
	}
	t.Logf("soak for %v, TOTEM_SOAK_SEED=%d", length, seed)
	rnd := rand.New(rand.NewPCG(uint64(seed), 0))
	const n = 5
	c := newCluster(t, n, rnd.IntN(2) == 0)
	c.steady(time.Second)
	mem := newMemoryWatch(c)
	end := time.Now().Add(length)
	for round := 1; time.Now().Before(end); round++ {
		held := time.Duration(300+rnd.IntN(1500)) * time.Millisecond
		node := 1 + rnd.IntN(n)
		switch kind := rnd.IntN(6); kind {
		case 0:
			p := []float64{1, 5, 20}[rnd.IntN(3)]
			t.Logf("round %d: %v%% loss for %v", round, p, held)
			must(t, c.lan.Loss(ctxFor(t), p))
			time.Sleep(held)
			must(t, c.lan.Loss(ctxFor(t), 0))
		case 1:
			groups := randomGroups(rnd, n)
			t.Logf("round %d: partition %v for %v", round, groups, held)
			must(t, c.lan.Partition(ctxFor(t), groups...))
			time.Sleep(held)
			must(t, c.lan.Heal(ctxFor(t)))
		case 2:
			other := 1 + (node+rnd.IntN(n-1))%n
			t.Logf("round %d: %d no longer hears %d for %v", round, other, node, held)
			must(t, c.lan.CutOneWay(ctxFor(t), node, other))
			time.Sleep(held)
			must(t, c.lan.Heal(ctxFor(t)))
		case 3:
			t.Logf("round %d: kill node %d, restart after %v", round, node, held)
			nd := c.ring.Node(node)
			must(t, c.ring.Kill(nd))
			time.Sleep(held)
			must(t, c.ring.StartNode(nd))
			c.waitRing(c.ring.Nodes...)
			c.load.reconnect(t, nd)
		case 4:
			t.Logf("round %d: pause node %d for %v", round, node, held)
			must(t, c.ring.Signal(c.ring.Node(node), syscall.SIGSTOP))
			time.Sleep(held)
			must(t, c.ring.Signal(c.ring.Node(node), syscall.SIGCONT))
		case 5:
			t.Logf("round %d: link of node %d down for %v", round, node, held)
			must(t, c.lan.SetLink(ctxFor(t), node, false))
			time.Sleep(held)
			must(t, c.lan.SetLink(ctxFor(t), node, true))
		}
		t.Logf("round %d: ring whole again after %v", round, c.waitRing(c.ring.Nodes...))
		c.steady(500 * time.Millisecond)
		mem.sample()
	}
	mem.check(t)
	c.finish()
}

// memoryWatch samples every daemon's resident memory through a soak. A daemon whose
// memory grows by more than soakGrowth from its first sample (after a second of load)
// fails the soak: every queue it has is bounded, so its footprint must level off.
type memoryWatch struct {
	c     *cluster
	first map[int]int64 // pid -> its first RSS
	last  map[int]int64
	peak  int64
}

// soakGrowth is what a daemon's memory may grow by in a soak: the buffers that fill
// under faults (retransmission windows, a restarted peer's backlog) and the Go heap's
// slack.
const soakGrowth = 64 << 20

func newMemoryWatch(c *cluster) *memoryWatch {
	w := &memoryWatch{c: c, first: map[int]int64{}, last: map[int]int64{}}
	w.sample()
	return w
}

func (w *memoryWatch) sample() {
	for _, n := range w.c.ring.Nodes {
		pid := w.c.ring.PID(n)
		rss, err := residentBytes(pid)
		if pid == 0 || err != nil {
			continue // not running (killed this round)
		}
		if _, ok := w.first[pid]; !ok {
			w.first[pid] = rss
		}
		w.last[pid] = rss
		w.peak = max(w.peak, rss)
	}
}

func (w *memoryWatch) check(t *testing.T) {
	t.Helper()
	for pid, first := range w.first {
		if grew := w.last[pid] - first; grew > soakGrowth {
			t.Errorf("daemon pid %d grew from %d to %d MiB during the soak", pid, first>>20, w.last[pid]>>20)
		}
	}
	t.Logf("daemons' resident memory: peak %d MiB", w.peak>>20)
}

// residentBytes reads a process's resident set size from /proc.
func residentBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb); err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// randomGroups splits nodes 1..n into two or three non-empty groups.
func randomGroups(rnd *rand.Rand, n int) [][]int {
	k := 2 + rnd.IntN(2)
	groups := make([][]int, k)
	perm := rnd.Perm(n)
	for i, p := range perm {
		g := i % k
		if i >= k {
			g = rnd.IntN(k)
		}
		groups[g] = append(groups[g], p+1)
	}
	return groups
}

// TestIPv6 runs the ring over IPv6 on the LAN, with a link-local-scope multicast group
// and with unicast to each member: the same load, the same checks.
func TestIPv6(t *testing.T) {
	for _, multicast := range []bool{true, false} {
		name := map[bool]string{true: "multicast", false: "udpu"}[multicast]
		t.Run(name, func(t *testing.T) {
			if err := netlab.Available(); err != nil {
				t.Skipf("the fault suite needs network namespaces: %v (CI runs it as root)", err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			lan, err := netlab.Up(ctx, 3)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { lan.Close() })
			dir, err := localring.ShortDir("nl6")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			mcast := ""
			args := []string{"--unauthenticated"}
			if multicast {
				mcast = netip.AddrPortFrom(netlab.MulticastGroup6, 5405).String()
				args = append(args, "--interface", netlab.Iface)
			}
			r, err := localring.New(localring.Options{
				Mcast:  mcast,
				Totemd: filepath.Join(binDir, "totemd"), Dir: dir, Nodes: 3, TokenTimeout: tokenTimeout,
				Namespace: lan.Namespace,
				Addr:      func(id int) string { return netip.AddrPortFrom(lan.Addr6(id), 5405).String() },
				Args:      args,
			})
			if err != nil {
				t.Fatal(err)
			}
			c := &cluster{t: t, lan: lan, ring: r}
			t.Cleanup(func() {
				r.Close()
				if t.Failed() {
					for _, nd := range r.Nodes {
						t.Logf("node %d log:\n%s", nd.ID, tail(nd.Log(), 30))
					}
				}
			})
			for _, nd := range r.Nodes {
				must(t, r.StartNode(nd))
			}
			c.waitRing(r.Nodes...)
			c.load = startLoad(t, r)
			c.steady(2 * time.Second)
			c.finish()
		})
	}
}
