package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/totem-gcs/totem/demo/localring"
)

// The helpers here run real totemd and totemctl processes on 127.0.0.1 (udpu: unicast to
// each peer, never multicast). Every process is killed in the test's cleanup, and every
// wait is bounded.

const (
	// tokenTimeout is the daemons' token loss timeout; consensus follows at 1.2x.
	tokenTimeout = 300 * time.Millisecond
	// ringTimeout bounds the wait for a ring to form (or re-form).
	ringTimeout = 15 * time.Second
	// ctlTimeout bounds one short totemctl command.
	ctlTimeout = 15 * time.Second
	// buildTimeout bounds the build of the binaries (with the race detector, too).
	buildTimeout = 10 * time.Minute
	// logTail is how much of each daemon's log a failing test prints.
	logTail = 32 << 10
)

var (
	binDir  string // where TestMain built totemd and totemctl
	skipWhy string // why the multi-process tests cannot run here, if they cannot
)

// buildBinaries builds totemd and totemctl into dir with the go command that runs the
// tests. With TOTEM_E2E_RACE=1 they are built with the race detector (slower; a daemon
// that reports a race fails the test that ran it).
func buildBinaries(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	return localring.Build(ctx, dir, os.Getenv("TOTEM_E2E_RACE") == "1",
		"github.com/totem-gcs/totem/cmd/totemd", "github.com/totem-gcs/totem/cmd/totemctl")
}

func needBinaries(t *testing.T) {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
}

// testCluster is N totemd processes forming one ring over UDP unicast on 127.0.0.1: a
// localring.Ring whose failures fail the test.
type testCluster struct {
	t     *testing.T
	ring  *localring.Ring
	nodes []*testDaemon
}

// testDaemon is one totemd; it can be killed and started again with the same identity.
type testDaemon struct{ *localring.Node }

// newTestCluster starts n daemons and waits until they form one ring.
func newTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	return newPartialCluster(t, n, n)
}

// newPartialCluster configures n daemons, every one a peer of the others, but starts
// only the first started of them, and waits until those form one ring.
func newPartialCluster(t *testing.T, n, started int) *testCluster {
	t.Helper()
	needBinaries(t)
	dir, err := localring.ShortDir("tctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r, err := localring.New(localring.Options{
		Totemd:       filepath.Join(binDir, "totemd"),
		Dir:          dir,
		Nodes:        n,
		TokenTimeout: tokenTimeout,
		// Unique per test, so that stray datagrams of an earlier test are ignored.
		Cluster: fmt.Sprintf("e2e-%s-%d-%d", t.Name(), os.Getpid(), time.Now().UnixNano()),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &testCluster{t: t, ring: r}
	for _, node := range r.Nodes {
		c.nodes = append(c.nodes, &testDaemon{node})
	}
	// Registered before any daemon starts, so that a ring that never forms still has
	// its logs printed (and its stacks, with TOTEM_E2E_STACKS=1).
	t.Cleanup(func() {
		for _, d := range c.nodes {
			if t.Failed() && os.Getenv("TOTEM_E2E_STACKS") == "1" && r.Running(d.Node) {
				r.Signal(d.Node, syscall.SIGQUIT) // Go prints every goroutine's stack
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				r.WaitExit(ctx, d.Node)
				cancel()
			}
			c.kill(d)
		}
		c.checkLogs()
	})
	for _, d := range c.nodes[:started] {
		c.start(d)
	}
	c.waitRing(c.nodes[:started]...)
	return c
}

// node returns the daemon with the given id.
func (c *testCluster) node(id int) *testDaemon { return c.nodes[id-1] }

// start runs d's daemon, appending its standard output and error to its log file.
func (c *testCluster) start(d *testDaemon) {
	c.t.Helper()
	if err := c.ring.StartNode(d.Node); err != nil {
		c.t.Fatal(err)
	}
}

// kill sends SIGKILL to d's daemon, if it runs, and waits for it to be gone.
func (c *testCluster) kill(d *testDaemon) {
	c.t.Helper()
	if err := c.ring.Kill(d.Node); err != nil {
		c.t.Error(err)
	}
}

// checkLogs fails the test when a daemon built with the race detector reported a
// race, and prints the daemons' logs when the test failed.
func (c *testCluster) checkLogs() {
	if err := c.ring.Check(); err != nil {
		c.t.Error(err)
	}
	if !c.t.Failed() {
		return
	}
	for _, d := range c.nodes {
		b := d.Log()
		if b == "" {
			continue
		}
		if len(b) > logTail {
			b = "...\n" + b[len(b)-logTail:]
		}
		c.t.Logf("--- totemd %d log (%s):\n%s", d.ID, d.LogPath, b)
	}
}

// waitRing waits, at most ringTimeout, until every daemon in ds reports the
// operational state, exactly ds as the members, and the same ring id; it returns that
// ring id.
func (c *testCluster) waitRing(ds ...*testDaemon) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), ringTimeout)
	defer cancel()
	ns := make([]*localring.Node, len(ds))
	for i, d := range ds {
		ns[i] = d.Node
	}
	ring, err := c.ring.WaitRing(ctx, ns...)
	if err != nil {
		c.t.Fatal(err)
	}
	return ring
}

// ctl runs totemctl against d's socket and returns its standard output and error.
func ctl(t *testing.T, d *testDaemon, args ...string) (string, string, error) {
	return ctlInput(t, d, nil, args...)
}

// ctlInput is ctl with standard input.
func ctlInput(t *testing.T, d *testDaemon, stdin io.Reader, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), ctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "totemctl"), append([]string{"--socket", d.Socket}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	localring.DieWithParent(cmd)
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// testListener is a running "totemctl listen" whose output lines the test reads as they
// come.
type testListener struct {
	t      *testing.T
	node   int
	cmd    *exec.Cmd
	stderr *syncBuffer

	mu      sync.Mutex
	lines   []string
	eof     bool
	changed chan struct{} // capacity 1: a line was added or output ended

	exited chan struct{} // closed once the process has been waited for
	err    error         // its exit status, once exited
}

// startListen starts "totemctl listen --json" on d with the given extra arguments; it
// is killed when the test ends.
func startListen(t *testing.T, d *testDaemon, args ...string) *testListener {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "totemctl"), append([]string{"--socket", d.Socket, "listen", "--json"}, args...)...)
	l := &testListener{t: t, node: d.ID, cmd: cmd, stderr: &syncBuffer{}, changed: make(chan struct{}, 1), exited: make(chan struct{})}
	cmd.Stderr = l.stderr
	localring.DieWithParent(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start totemctl listen: %v", err)
	}
	go func() {
		l.read(out)
		l.err = cmd.Wait()
		close(l.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-l.exited
		if t.Failed() {
			t.Logf("listener on node %d (pid %d): %d lines; stderr: %s", l.node, l.pid(), l.count(), l.stderr.String())
		}
	})
	return l
}

func (l *testListener) pid() int { return l.cmd.Process.Pid }

// read collects standard output until it ends.
func (l *testListener) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		l.mu.Unlock()
		l.notify()
	}
	l.mu.Lock()
	l.eof = true
	l.mu.Unlock()
	l.notify()
}

func (l *testListener) notify() {
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

func (l *testListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// snapshot returns the lines so far.
func (l *testListener) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// waitEvent waits, at most d, for an event of type kind (view or message) at index from
// or later that satisfies ok, and returns its index. Lines of the other type are not
// even parsed, which matters after a flood. One goroutine waits on a listener at a time.
func (l *testListener) waitEvent(from int, d time.Duration, kind, what string, ok func(ev ctlEvent) bool) int {
	l.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		l.mu.Lock()
		lines, eof := l.lines, l.eof
		l.mu.Unlock()
		prefix := `{"type":"` + kind + `"`
		for i := from; i < len(lines); i++ {
			if !strings.HasPrefix(lines[i], prefix) {
				continue
			}
			if ev := parseEvent(l.t, lines[i]); ok(ev) {
				return i
			}
		}
		from = len(lines)
		if eof {
			l.t.Fatalf("listener on node %d ended (%v) without %s; stderr: %s", l.node, l.wait(time.Second), what, l.stderr.String())
		}
		select {
		case <-l.changed:
		case <-timer.C:
			l.t.Fatalf("listener on node %d: no %s within %s", l.node, what, d)
		}
	}
}

// waitJoined waits until the listener has seen its own join: from then on it receives
// every message of the group.
func (l *testListener) waitJoined(d time.Duration) {
	l.t.Helper()
	l.waitEvent(0, d, "view", "view of its own join", func(ev ctlEvent) bool {
		return ev.Type == "view" && ev.joined(l.node, l.pid())
	})
}

// wait waits at most d for the process to exit and returns its exit status.
func (l *testListener) wait(d time.Duration) error {
	select {
	case <-l.exited:
		return l.err
	case <-time.After(d):
		return fmt.Errorf("still running after %s", d)
	}
}

// messages returns the message lines of the output.
func (l *testListener) messages() []string {
	var out []string
	for _, line := range l.snapshot() {
		if strings.HasPrefix(line, `{"type":"message"`) {
			out = append(out, line)
		}
	}
	return out
}

// ctlEvent is a line of listen --json as a test reads it back.
type ctlEvent struct {
	Type    string      `json:"type"`
	Group   string      `json:"group"`
	Members []ctlMember `json:"members"`
	Joined  []ctlMember `json:"joined"`
	Left    []ctlMember `json:"left"`
	Sender  ctlMember   `json:"sender"`
	Safe    bool        `json:"safe"`
	Data    string      `json:"data"`
}

type ctlMember struct {
	Node   int    `json:"node"`
	PID    int    `json:"pid"`
	Reason string `json:"reason"`
}

func parseEvent(t *testing.T, line string) ctlEvent {
	t.Helper()
	var ev ctlEvent
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatalf("listen printed %q: %v", line, err)
	}
	return ev
}

func (ev ctlEvent) joined(node, pid int) bool { return hasMember(ev.Joined, node, pid, "") }

// hasMember reports whether ms holds the member, with the reason unless reason is "".
func hasMember(ms []ctlMember, node, pid int, reason string) bool {
	return slices.ContainsFunc(ms, func(m ctlMember) bool {
		return m.Node == node && (pid == 0 || m.PID == pid) && (reason == "" || m.Reason == reason)
	})
}

// syncBuffer is a bytes.Buffer that a process writes while the test reads.
type syncBuffer = localring.Buffer

// exitStatus is a process's exit code, or -1 when it did not exit normally.
func exitStatus(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}
