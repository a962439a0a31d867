package localring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/totem-gcs/totem/internal/cliutil"
	"github.com/totem-gcs/totem/totem/client"
)

// ringTimeout bounds every wait for a ring to form or re-form.
const ringTimeout = 15 * time.Second

var (
	totemd  string // built by TestMain
	skipWhy string // why the tests that run daemons cannot run here, if they cannot
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := ShortDir("lrbin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	switch err := Build(ctx, dir, false, "github.com/totem-gcs/totem/cmd/totemd"); {
	case errors.Is(err, exec.ErrNotFound):
		skipWhy = "no go command to build totemd: " + err.Error()
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	totemd = filepath.Join(dir, "totemd")
	code := m.Run()
	// Close must have reaped every daemon: the goroutines that wait for them are gone.
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// startRing starts n daemons whose output also goes to out, and closes them when the
// test ends, printing their logs if it failed.
func startRing(t *testing.T, n int, out *syncBuffer) *Ring {
	t.Helper()
	return startRingWith(t, Options{Nodes: n}, out)
}

// startRingWith is startRing with options; Totemd and Dir are filled in.
func startRingWith(t *testing.T, o Options, out *syncBuffer) *Ring {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
	dir, err := ShortDir("lr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(t.Context(), ringTimeout)
	defer cancel()
	o.Totemd, o.Dir = totemd, dir
	if out != nil { // not a nil *syncBuffer in a non-nil io.Writer
		o.Stdout = out
	}
	r, err := Start(ctx, o)
	if err != nil {
		t.Logf("output:\n%s", out)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		if err := r.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := r.Check(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			for _, n := range r.Nodes {
				t.Logf("--- totemd %d log:\n%s", n.ID, n.Log())
			}
		}
	})
	return r
}

// waitRing is r.WaitRing bounded by ringTimeout.
func waitRing(t *testing.T, r *Ring, ns ...*Node) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), ringTimeout)
	defer cancel()
	ring, err := r.WaitRing(ctx, ns...)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

// Three daemons read one cluster file, each told only which node it is, and form one
// ring of the file's nodes.
func TestOneClusterFile(t *testing.T) {
	r := startRingWith(t, Options{Nodes: 3, ClusterFile: true}, nil)
	waitRing(t, r, r.Nodes...)
	for _, n := range r.Nodes {
		if log := n.Log(); !strings.Contains(log, "--config "+r.clusterFilePath()) || strings.Contains(log, "--peer") {
			t.Errorf("node %d was not started from the cluster file alone:\n%s", n.ID, log)
		}
	}
}

// Three daemons on IPv6 loopback (udpu on [::1]; Linux's lo carries no IPv6 multicast)
// form one ring from one cluster file, and carry a message to every node.
func TestIPv6LoopbackRing(t *testing.T) {
	var ports []int
	var held []net.PacketConn // until all are chosen, so that none is handed out twice
	for range 3 {
		pc, err := net.ListenPacket("udp6", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		held = append(held, pc)
		ports = append(ports, pc.LocalAddr().(*net.UDPAddr).Port)
	}
	for _, pc := range held {
		pc.Close()
	}
	addr := func(id int) string { return fmt.Sprintf("[::1]:%d", ports[id-1]) }
	r := startRingWith(t, Options{Nodes: 3, ClusterFile: true, Addr: addr}, nil)
	waitRing(t, r, r.Nodes...)
	for _, n := range r.Nodes {
		if want := "on " + addr(n.ID) + " (udpu)"; !strings.Contains(n.Log(), want) {
			t.Fatalf("node %d does not say it runs %q:\n%s", n.ID, want, n.Log())
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), ringTimeout)
	defer cancel()
	var clients []*client.Client
	for _, n := range r.Nodes {
		c, err := client.Dial(ctx, n.Socket)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Join(ctx, "v6"); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	// A Join returns once the join is queued; the message must be ordered after all
	// three, which it is once the sender has seen a view of them all.
	for {
		ev, err := clients[0].Receive(ctx)
		if err != nil {
			t.Fatalf("node 1, waiting for a view of three: %v", err)
		}
		if v, ok := ev.(client.View); ok && len(v.Members) == len(clients) {
			break
		}
	}
	if err := clients[0].Multicast(ctx, "v6", []byte("over ::1"), client.Safe); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		for {
			ev, err := c.Receive(ctx)
			if err != nil {
				t.Fatalf("node %d: %v", i+1, err)
			}
			if m, ok := ev.(client.Message); ok {
				if string(m.Data) != "over ::1" {
					t.Fatalf("node %d got %q", i+1, m.Data)
				}
				break
			}
		}
	}
}

// TestKillAndRestart: three daemons form a ring; node 3 killed, the other two form one
// of their own; node 3 restarted with the same identity, all three form a new one.
func TestKillAndRestart(t *testing.T) {
	var out syncBuffer
	r := startRing(t, 3, &out)
	n1, n2, n3 := r.Node(1), r.Node(2), r.Node(3)
	first := waitRing(t, r, r.Nodes...)
	pid := r.PID(n3)
	if !r.Running(n3) || pid == 0 {
		t.Fatalf("node 3: running %v, pid %d", r.Running(n3), pid)
	}
	if err := r.StartNode(n3); err == nil {
		t.Error("StartNode of a running node succeeded")
	}

	if err := r.Kill(n3); err != nil {
		t.Fatal(err)
	}
	if r.Running(n3) || r.PID(n3) != 0 {
		t.Fatalf("node 3 after Kill: running %v, pid %d", r.Running(n3), r.PID(n3))
	}
	if err := r.Kill(n3); err != nil {
		t.Errorf("second Kill: %v", err)
	}
	two := waitRing(t, r, n1, n2)

	if err := r.StartNode(n3); err != nil {
		t.Fatal(err)
	}
	if r.PID(n3) == 0 || r.PID(n3) == pid {
		t.Errorf("node 3 restarted: pid %d, before %d", r.PID(n3), pid)
	}
	again := waitRing(t, r) // no nodes: all of them
	if first == two || two == again || first == again {
		t.Errorf("ring ids %s, %s, %s: want three different rings", first, two, again)
	}
	t.Logf("rings: %s, then %s without node 3, then %s", first, two, again)

	// Node 3's log holds both of its runs; the shared output tells the nodes apart.
	if got := strings.Count(n3.Log(), "=== "); got != 2 {
		t.Errorf("node 3's log has %d start lines, want 2", got)
	}
	for _, n := range r.Nodes {
		want := fmt.Sprintf("n%d: totemd: node %d of cluster", n.ID, n.ID)
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestWaitRingTimeout: a ring that cannot form (node 3 is not running) makes WaitRing
// fail when its context ends, saying what each node said.
func TestWaitRingTimeout(t *testing.T) {
	r := startRing(t, 3, nil)
	if err := r.Kill(r.Node(3)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err := r.WaitRing(ctx, r.Nodes...)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitRing without node 3: %v, want a deadline error", err)
	}
	if !strings.Contains(err.Error(), "n3: ") || !strings.Contains(err.Error(), "n1: ") {
		t.Errorf("error lacks the nodes' statuses: %v", err)
	}
}

// TestStartFails: Start that cannot start a daemon fails and leaves nothing running.
func TestStartFails(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), ringTimeout)
	defer cancel()
	if _, err := Start(ctx, Options{Totemd: filepath.Join(dir, "missing"), Dir: dir, Nodes: 2}); err == nil {
		t.Fatal("Start with a missing binary succeeded")
	}
}

func TestNewOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"no binary", Options{Dir: "/tmp", Nodes: 1}},
		{"no dir", Options{Totemd: "totemd", Nodes: 1}},
		{"no nodes", Options{Totemd: "totemd", Dir: "/tmp"}},
		{"long dir", Options{Totemd: "totemd", Dir: "/tmp/" + strings.Repeat("d", 120), Nodes: 1}},
	} {
		if _, err := New(tc.o); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	r, err := New(Options{Totemd: "totemd", Dir: "/tmp", Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.opts.TokenTimeout != DefaultTokenTimeout || !strings.HasPrefix(r.opts.Cluster, "localring-") {
		t.Errorf("defaults: %+v", r.opts)
	}
	if r.Node(0) != nil || r.Node(3) != nil || r.Node(2).ID != 2 || r.Node(1).Addr == r.Node(2).Addr {
		t.Errorf("nodes: %+v %+v", r.Node(1), r.Node(2))
	}
	if r.Running(r.Node(1)) || r.PID(r.Node(1)) != 0 || r.Close() != nil {
		t.Error("a ring never started looks started")
	}
}

func TestLineWriter(t *testing.T) {
	var out bytes.Buffer
	lw := &cliutil.LockedWriter{W: &out}
	a := &lineWriter{out: lw, prefix: "a: "}
	b := &lineWriter{out: lw, prefix: "b: "}
	a.Write([]byte("one\ntw"))
	b.Write([]byte("x\n"))
	a.Write([]byte("o\nthr"))
	a.flush()
	if got, want := out.String(), "a: one\nb: x\na: two\na: thr\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

type syncBuffer = Buffer
