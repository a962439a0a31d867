package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/totem-gcs/totem/demo/localring"
)

const (
	nodes = 3
	// stepTimeout bounds every wait of the tour: a ring forming, a replica catching up,
	// one counter command.
	stepTimeout = 30 * time.Second
	// stopTimeout bounds the wait for a replica after SIGTERM.
	stopTimeout = 5 * time.Second
)

// tour is the quick start's ring, replicas and narration.
type tour struct {
	out      *printer
	dir      string // sockets, state and logs; removed at the end
	bin      string // the built binaries
	ring     *localring.Ring
	replicas map[int]*replica
}

func newTour(stdout io.Writer) (*tour, error) {
	dir, err := localring.ShortDir("quickstart")
	if err != nil {
		return nil, err
	}
	return &tour{out: &printer{w: stdout}, dir: dir, bin: filepath.Join(dir, "bin"), replicas: make(map[int]*replica)}, nil
}

func (t *tour) run(ctx context.Context, keep bool) error {
	t.out.say("Building totemd, totemctl and counter with the go command ...")
	buildCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	err := localring.Build(buildCtx, t.bin, false, "github.com/totem-gcs/totem/cmd/totemd", "github.com/totem-gcs/totem/cmd/totemctl", "github.com/totem-gcs/totem/demo/counter")
	cancel()
	if err != nil {
		return fmt.Errorf("build (run this from the totem repository): %w", err)
	}

	t.out.say("Starting %d totemd daemons on 127.0.0.1 (UDP unicast; state, sockets and logs in %s) ...", nodes, t.dir)
	startCtx, cancel := context.WithTimeout(ctx, stepTimeout)
	t.ring, err = localring.Start(startCtx, localring.Options{Totemd: filepath.Join(t.bin, "totemd"), Dir: t.dir, Nodes: nodes})
	cancel()
	if err != nil {
		return err
	}
	if err := t.waitRing(ctx, t.ring.Nodes...); err != nil {
		return err
	}

	t.out.say("Starting a counter replica on each node (counter --socket NODE.sock replica); they print their status as it changes:")
	for _, n := range t.ring.Nodes {
		if err := t.startReplica(n); err != nil {
			return err
		}
	}
	if err := t.waitServing(ctx, 1, 2, 3); err != nil {
		return err
	}

	t.out.say("Changing the counter through every node; each command goes to a replica, which orders it on the ring:")
	for _, step := range []struct {
		node int
		args []string
	}{{1, []string{"add", "5"}}, {2, []string{"inc"}}, {3, []string{"add", "-2"}}, {1, []string{"get"}}, {2, []string{"get"}}, {3, []string{"get"}}} {
		if _, err := t.counter(ctx, step.node, step.args...); err != nil {
			return err
		}
	}

	n3 := t.ring.Node(3)
	t.out.say("Killing node 3's daemon with SIGKILL (pid %d): no goodbye, the others notice the lost token ...", t.ring.PID(n3))
	if err := t.ring.Kill(n3); err != nil {
		return err
	}
	if err := t.waitRing(ctx, t.ring.Node(1), t.ring.Node(2)); err != nil {
		return err
	}
	if r := t.replicas[3]; r.WaitExit(stopTimeout) {
		// Its last line is why it stopped; log lines it wrote while the ring changed
		// come before.
		lines := strings.Split(strings.TrimSpace(r.Stderr()), "\n")
		t.out.say("Replica 3 lost its daemon and stopped: %s", lines[len(lines)-1])
	}
	t.out.say("Two of three replicas are a majority: the counter goes on.")
	if _, err := t.counter(ctx, 1, "add", "10"); err != nil {
		return err
	}
	if _, err := t.counter(ctx, 2, "get"); err != nil {
		return err
	}

	t.out.say("Restarting node 3's daemon and replica; the new replica takes the state by transfer ...")
	if err := t.ring.StartNode(n3); err != nil {
		return err
	}
	if err := t.waitRing(ctx, t.ring.Nodes...); err != nil {
		return err
	}
	if err := t.startReplica(n3); err != nil {
		return err
	}
	if err := t.waitServing(ctx, 3); err != nil {
		return err
	}
	value, err := t.counter(ctx, 3, "get")
	if err != nil {
		return err
	}
	if err := t.waitSame(ctx, value); err != nil {
		return err
	}
	t.out.say("Every replica shows value %s.", value)
	if !keep {
		t.out.say("Done. (go run ./demo/quickstart --keep leaves the ring running to try it by hand.)")
		return nil
	}
	t.out.say("The ring keeps running until you interrupt this program. Try, in another terminal:")
	for _, n := range t.ring.Nodes {
		t.out.say("  %s --socket %s add 1", filepath.Join(t.bin, "counter"), n.Socket)
	}
	t.out.say("  %s --socket %s status", filepath.Join(t.bin, "totemctl"), t.ring.Node(1).Socket)
	<-ctx.Done()
	return nil
}

// waitRing waits for a ring of exactly ns and says so.
func (t *tour) waitRing(ctx context.Context, ns ...*localring.Node) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	id, err := t.ring.WaitRing(ctx, ns...)
	if err != nil {
		return err
	}
	ids := make([]string, len(ns))
	for i, n := range ns {
		ids[i] = fmt.Sprint(n.ID)
	}
	t.out.say("Ring %s is operational with nodes %s.", id, strings.Join(ids, ", "))
	return nil
}

// counter runs one counter command against node's daemon, shows it and its output, and
// returns the output.
func (t *tour) counter(ctx context.Context, node int, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	t.out.say("[node %d] $ counter %s", node, strings.Join(args, " "))
	full := append([]string{"--socket", t.ring.Node(node).Socket}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(t.bin, "counter"), full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	localring.DieWithParent(cmd)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("counter %s on node %d: %w: %s", strings.Join(args, " "), node, err, strings.TrimSpace(stderr.String()))
	}
	res := strings.TrimSpace(stdout.String())
	t.out.say("[node %d] %s", node, res)
	return res, nil
}

// startReplica runs "counter replica" on n's daemon, printing its lines as they come.
func (t *tour) startReplica(n *localring.Node) error {
	cmd := exec.Command(filepath.Join(t.bin, "counter"), "--socket", n.Socket, "replica", "--replicas", fmt.Sprint(nodes))
	p, err := localring.StartProcess(cmd, func(line string) {
		t.out.say("    replica %d | %s", n.ID, line)
	})
	if err != nil {
		return fmt.Errorf("the replica on node %d: %w", n.ID, err)
	}
	t.replicas[n.ID] = &replica{p}
	return nil
}

// waitServing waits until the replicas on the given nodes report that they serve.
func (t *tour) waitServing(ctx context.Context, ids ...int) error {
	return t.poll(ctx, "the replicas to serve", func() bool {
		for _, id := range ids {
			if !strings.HasSuffix(t.replicas[id].lastLine(), "| serving") {
				return false
			}
		}
		return true
	})
}

// waitSame waits until every replica shows value.
func (t *tour) waitSame(ctx context.Context, value string) error {
	return t.poll(ctx, "every replica to show "+value, func() bool {
		for id := 1; id <= nodes; id++ {
			if !strings.HasPrefix(t.replicas[id].lastLine(), "value "+value+" |") {
				return false
			}
		}
		return true
	})
}

func (t *tour) poll(ctx context.Context, what string, ok func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// close stops the replicas and the daemons and removes the directory.
func (t *tour) close() {
	for _, r := range t.replicas {
		r.Stop(stopTimeout)
	}
	if t.ring != nil {
		t.ring.Close()
	}
	os.RemoveAll(t.dir)
}

// showLogs prints the end of every daemon's log and every replica's errors, for a tour
// that failed.
func (t *tour) showLogs(w io.Writer) {
	if t.ring != nil {
		for _, n := range t.ring.Nodes {
			log := n.Log()
			if len(log) > 4096 {
				log = "..." + log[len(log)-4096:]
			}
			fmt.Fprintf(w, "--- totemd %d log:\n%s\n", n.ID, log)
		}
	}
	for id, r := range t.replicas {
		fmt.Fprintf(w, "--- replica %d errors:\n%s\n", id, r.Stderr())
	}
}

// replica is one "counter replica" process.
type replica struct{ *localring.Process }

// lastLine is the replica's latest status line.
func (r *replica) lastLine() string {
	lines := r.Lines()
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}

// printer writes whole lines from several goroutines.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) say(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}
