package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/totem-gcs/totem/demo/localring"
	"github.com/totem-gcs/totem/demo/localring/ringtest"
)

// The end-to-end tests run real totemd and counter processes on 127.0.0.1, as a user
// would from a shell. Every process dies with the test; every wait is bounded.

const (
	waitTimeout = 30 * time.Second
	cmdTimeout  = 20 * time.Second
)

func TestMain(m *testing.M) {
	code := m.Run()
	ringtest.Cleanup()
	os.Exit(code)
}

// startRing builds the binaries (once) and starts n daemons for the test.
func startRing(t *testing.T, n int) *localring.Ring {
	t.Helper()
	binDir = ringtest.Binaries(t, "github.com/totem-gcs/totem/cmd/totemd", "github.com/totem-gcs/totem/demo/counter")
	return ringtest.Start(t, binDir, n)
}

// binDir holds the binaries that startRing built.
var binDir string

// replicaProc is a running "counter replica" whose output lines the test reads.
type replicaProc struct {
	*localring.Process
	t    *testing.T
	node int
}

func startReplica(t *testing.T, nd *localring.Node) *replicaProc {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "counter"), "--socket", nd.Socket, "replica", "--replicas", "3")
	proc, err := localring.StartProcess(cmd, nil)
	if err != nil {
		t.Fatalf("replica on node %d: %v", nd.ID, err)
	}
	p := &replicaProc{Process: proc, t: t, node: nd.ID}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- replica on node %d: stdout:\n%s\nstderr:\n%s", p.node, strings.Join(p.Lines(), "\n"), p.Stderr())
		}
	})
	return p
}

// startServing starts a replica on every node and waits until all of them serve.
func startServing(t *testing.T, ring *localring.Ring) []*replicaProc {
	t.Helper()
	reps := make([]*replicaProc, len(ring.Nodes))
	for i, nd := range ring.Nodes {
		reps[i] = startReplica(t, nd)
	}
	for _, p := range reps {
		p.waitStatus("serving", serving)
	}
	return reps
}

// last is the replica's latest status line.
func (p *replicaProc) last() string {
	lines := p.Lines()
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "value ") {
			return lines[i]
		}
	}
	return ""
}

// waitLine waits until some output line satisfies ok.
func (p *replicaProc) waitLine(what string, ok func(string) bool) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := p.WaitLine(ctx, 0, ok); err != nil {
		p.t.Fatalf("replica on node %d: no %s: %v; last status %q", p.node, what, err, p.last())
	}
}

// waitStatus waits until the replica's latest status line satisfies ok.
func (p *replicaProc) waitStatus(what string, ok func(string) bool) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for !ok(p.last()) {
		if _, err := p.WaitLine(ctx, len(p.Lines()), func(string) bool { return true }); err != nil {
			p.t.Fatalf("replica on node %d: not %s: %v; last status %q", p.node, what, err, p.last())
		}
	}
}

func serving(line string) bool { return strings.HasSuffix(line, "| serving") }

func showsValue(v string) func(string) bool {
	return func(line string) bool { return strings.HasPrefix(line, "value "+v+" |") }
}

// runCounter runs a one-shot counter command against nd's daemon.
func runCounter(t *testing.T, nd *localring.Node, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "counter"), append([]string{"--socket", nd.Socket}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	localring.DieWithParent(cmd)
	err = cmd.Run()
	return strings.TrimSpace(out.String()), errOut.String(), err
}

func mustCounter(t *testing.T, nd *localring.Node, args ...string) string {
	t.Helper()
	out, errOut, err := runCounter(t, nd, args...)
	if err != nil {
		t.Fatalf("counter %s on node %d: %v: %s", strings.Join(args, " "), nd.ID, err, errOut)
	}
	return out
}

// Scripted commands from every node at once: each is applied once, every node reads
// the same total, and every replica shows it.
func TestScriptedCommandsAcrossTheRing(t *testing.T) {
	ring := startRing(t, 3)
	reps := startServing(t, ring)
	if got := mustCounter(t, ring.Node(1), "add", "5"); got != "5" {
		t.Fatalf("add 5 = %q, want 5", got)
	}
	var wg sync.WaitGroup
	for _, nd := range ring.Nodes {
		wg.Go(func() {
			for range 5 {
				if _, errOut, err := runCounter(t, nd, "inc"); err != nil {
					t.Errorf("inc on node %d: %v: %s", nd.ID, err, errOut)
				}
			}
			if _, errOut, err := runCounter(t, nd, "dec"); err != nil {
				t.Errorf("dec on node %d: %v: %s", nd.ID, err, errOut)
			}
		})
	}
	wg.Wait()
	for _, nd := range ring.Nodes {
		if got := mustCounter(t, nd, "get"); got != "17" {
			t.Errorf("get on node %d = %q, want 17 (5 + 3*5 - 3)", nd.ID, got)
		}
	}
	for _, p := range reps {
		p.waitStatus("showing 17", showsValue("17"))
	}
	if got := mustCounter(t, ring.Node(2), "replicas"); strings.Count(got, "\n")+1 != 3 {
		t.Errorf("replicas listed:\n%s\nwant 3 lines", got)
	}
}

// A replica is interactive too: its standard input takes commands, whose results the
// other replicas show as well.
func TestReplicaCommandsOnStdin(t *testing.T) {
	ring := startRing(t, 3)
	reps := startServing(t, ring)
	io.WriteString(reps[0].Stdin, "add 40\ninc\ninc\nget\nfly\n")
	reps[0].waitLine("= 42 from get", func(l string) bool { return l == "= 42" })
	reps[0].waitLine("an error for fly", func(l string) bool { return strings.HasPrefix(l, "error: unknown command") })
	for _, p := range reps {
		p.waitStatus("showing 42", showsValue("42"))
	}
	io.WriteString(reps[1].Stdin, "quit\n")
	if !reps[1].WaitExit(waitTimeout) {
		t.Fatal("the replica did not quit")
	}
	if err := reps[1].Err(); err != nil {
		t.Fatalf("quit: %v", err)
	}
	reps[0].waitStatus("down to two replicas", func(l string) bool { return strings.Contains(l, "(2 of 3) | serving") })
}

// With two of three daemons killed, the last replica is a minority: it says so, and a
// write through its node fails at once with "no quorum" and changes nothing. Once the
// daemons and replicas are back, the restarted replicas take the survivor's state, and
// writes go on.
func TestMinorityRefusesWrites(t *testing.T) {
	ring := startRing(t, 3)
	reps := startServing(t, ring)
	mustCounter(t, ring.Node(2), "add", "7")
	for _, id := range []int{2, 3} {
		if err := ring.Kill(ring.Node(id)); err != nil {
			t.Fatal(err)
		}
	}
	reps[0].waitStatus("in a minority", func(l string) bool { return strings.HasSuffix(l, "no quorum: a majority of 3 is 2") })
	out, errOut, err := runCounter(t, ring.Node(1), "add", "100")
	if err == nil || !strings.Contains(errOut, "no quorum") {
		t.Fatalf("add in the minority: %q, %v, stderr %q; want a no quorum failure", out, err, errOut)
	}
	if strings.Contains(errOut, "deadline") {
		t.Fatalf("add in the minority waited out its timeout instead of failing fast: %s", errOut)
	}
	for _, id := range []int{2, 3} {
		if err := ring.StartNode(ring.Node(id)); err != nil {
			t.Fatal(err)
		}
	}
	ringtest.WaitRing(t, ring, ring.Nodes...)
	reps[1], reps[2] = startReplica(t, ring.Node(2)), startReplica(t, ring.Node(3))
	for _, p := range reps {
		p.waitStatus("serving 7 again", func(l string) bool { return showsValue("7")(l) && serving(l) })
	}
	if got := mustCounter(t, ring.Node(3), "inc"); got != "8" {
		t.Fatalf("inc after the heal = %q, want 8 (the refused write changed nothing)", got)
	}
}
