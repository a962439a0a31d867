// Package localring runs a ring of real totemd processes on this machine, over UDP
// unicast on 127.0.0.1 (udpu: each daemon sends to every peer's address, never to a
// multicast group), so that nothing leaves the host. It serves demo programs, which want
// a ring to play with, and the multi-process tests of several packages, which want the
// real daemon rather than an in-process stand-in.
//
//	dir, _ := localring.ShortDir("ring")
//	defer os.RemoveAll(dir)
//	if err := localring.Build(ctx, dir, false, "github.com/totem-gcs/totem/cmd/totemd"); err != nil { ... }
//	r, err := localring.Start(ctx, localring.Options{Totemd: filepath.Join(dir, "totemd"), Dir: dir, Nodes: 3})
//	if err != nil { ... }
//	defer r.Close()
//	// client.Dial(ctx, r.Node(1).Socket) ...
//
// Each daemon gets its own Unix socket, state directory and log file in Options.Dir.
// A node can be killed with SIGKILL and started again with the same identity, which is
// how a crash and a recovery are shown. Every wait is bounded: by a context, or by a
// fixed time where the package waits for a process it killed.
package localring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/totem-gcs/totem/internal/cliutil"
	"github.com/totem-gcs/totem/totem/client"
)

const (
	// DefaultTokenTimeout is the daemons' token loss timeout unless Options says
	// otherwise: short, so that a killed node leaves the ring within about a second, yet
	// long enough that a loaded machine (or the race detector) does not lose tokens.
	DefaultTokenTimeout = 300 * time.Millisecond

	// killTimeout bounds the wait for a process after SIGKILL. Only a process stuck in
	// the kernel outlives it, and then the ring cannot be trusted anyway.
	killTimeout = 10 * time.Second
	// pollInterval is how often WaitRing asks the daemons again.
	pollInterval = 50 * time.Millisecond
	// statusTimeout bounds one status request, so that a daemon that hangs does not
	// consume the whole of WaitRing's context before the others are asked.
	statusTimeout = 2 * time.Second
	// maxSocketPath is the longest socket path accepted: sun_path is 104 bytes on the
	// BSDs and macOS (108 on Linux), counting its terminating NUL.
	maxSocketPath = 103
)

// Build compiles the main packages pkgs (import paths, e.g.
// "github.com/totem-gcs/totem/cmd/totemd") into dir with the go command found in PATH;
// race adds -race. The go command runs in the current directory, which must therefore
// lie in a module that provides pkgs (as a test's directory in this module does).
//
// Without a go command the error wraps exec.ErrNotFound, so that a test can skip rather
// than fail where only compiled tests are shipped.
func Build(ctx context.Context, dir string, race bool, pkgs ...string) error {
	if len(pkgs) == 0 {
		return errors.New("localring: Build: no packages")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("localring: %w", err)
	}
	// The trailing separator makes -o a directory even for a single package.
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if race {
		args = append(args, "-race")
	}
	args = append(args, pkgs...)
	out, err := exec.CommandContext(ctx, goCmd, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("localring: go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// ShortDir makes a temporary directory (os.MkdirTemp("", prefix)) whose paths fit a
// Unix socket address, which those of testing.T.TempDir, holding the test's name, may
// not. The caller removes it.
func ShortDir(prefix string) (string, error) {
	return os.MkdirTemp("", prefix)
}

// FreeUDPPorts returns n distinct UDP ports that were free on 127.0.0.1 a moment ago.
// Another process may take one before a daemon binds it; the ports are chosen by the
// kernel among the ephemeral ones, which makes that rare.
func FreeUDPPorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("localring: free UDP port: %w", err)
		}
		// Held until all are chosen, so that the kernel does not hand out one twice.
		defer pc.Close()
		ports = append(ports, pc.LocalAddr().(*net.UDPAddr).Port)
	}
	return ports, nil
}

// Options describes a ring.
type Options struct {
	Totemd       string        // path of the totemd binary (required)
	Dir          string        // sockets, state dirs and logs go here (required; keep it short, see ShortDir)
	Nodes        int           // how many daemons (node ids 1..Nodes)
	TokenTimeout time.Duration // default DefaultTokenTimeout
	// Cluster is the cluster name, by default unique per ring
	// ("localring-<pid>-<nanotime>"): daemons of another ring, or of an earlier run
	// whose ports were reused, then ignore this ring's datagrams.
	Cluster string
	Args    []string // extra totemd flags for every node
	// Stdout, if not nil, also gets every daemon's output, line by line, each line
	// prefixed with "n<id>: " so that the daemons' lines can be told apart. It is
	// written from several goroutines, one at a time. Its errors are ignored: the log
	// files stay complete, and a daemon must not stall because a terminal went away.
	Stdout io.Writer
	// Namespace, if set, names the network namespace each node's daemon runs in
	// (started through "ip netns exec"), and Addr its UDP address there ("IP:PORT");
	// package netlab builds such namespaces. Sockets, state and logs stay in Dir.
	Namespace func(id int) string
	Addr      func(id int) string
	// Mcast, if set ("GROUP:PORT"), makes a multicast ring: every daemon gets --mcast
	// and no --peer list.
	Mcast string
	// ClusterFile, if set, describes the ring in one TOML cluster file in Dir, which
	// every daemon reads (--config) as an operator's nodes would; each finds its own
	// entry there by its address when each runs in its own namespace, else by
	// --node-id. Without it, the ring is described by flags alone.
	ClusterFile bool
}

// Ring is a set of totemd processes configured as one cluster. Its methods may be
// called from several goroutines.
type Ring struct {
	Nodes []*Node // node i+1 is Nodes[i]

	opts Options    // with the defaults filled in
	mu   sync.Mutex // guards every Node's proc
	out  *cliutil.LockedWriter
}

// Node is one daemon of a Ring: its identity, which outlives its processes.
type Node struct {
	ID       int
	Addr     string // its UDP address: 127.0.0.1:port, or Options.Addr's
	Socket   string // its Unix socket, for client.Dial and totemctl --socket
	StateDir string
	LogPath  string // its standard output and error, of every process in turn

	proc *process // the current or last process; nil if none started since the last kill
}

// process is one run of a node's daemon.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been waited for
}

func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// New prepares a ring, choosing the nodes' ports and paths, but starts no daemon. Start
// is New, StartNode for every node and WaitRing; New is for a caller that must be ready
// to clean up (say, register a test's cleanup that prints the logs) before the daemons
// run.
func New(o Options) (*Ring, error) {
	switch {
	case o.Totemd == "":
		return nil, errors.New("localring: Options.Totemd is required")
	case o.Dir == "":
		return nil, errors.New("localring: Options.Dir is required")
	case o.Nodes < 1:
		return nil, fmt.Errorf("localring: Options.Nodes is %d, want at least 1", o.Nodes)
	}
	if o.TokenTimeout == 0 {
		o.TokenTimeout = DefaultTokenTimeout
	}
	if o.Cluster == "" {
		o.Cluster = fmt.Sprintf("localring-%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	o.Args = slices.Clone(o.Args)
	addr := o.Addr
	if addr == nil {
		ports, err := FreeUDPPorts(o.Nodes)
		if err != nil {
			return nil, err
		}
		addr = func(id int) string { return fmt.Sprintf("127.0.0.1:%d", ports[id-1]) }
	}
	r := &Ring{opts: o}
	if o.Stdout != nil {
		r.out = &cliutil.LockedWriter{W: o.Stdout}
	}
	for i := range o.Nodes {
		id := i + 1
		n := &Node{
			ID:       id,
			Addr:     addr(id),
			Socket:   filepath.Join(o.Dir, fmt.Sprintf("n%d.sock", id)),
			StateDir: filepath.Join(o.Dir, fmt.Sprintf("s%d", id)),
			LogPath:  filepath.Join(o.Dir, fmt.Sprintf("n%d.log", id)),
		}
		// The daemon would fail to listen; say why here, where the fix is known.
		if len(n.Socket) > maxSocketPath {
			return nil, fmt.Errorf("localring: socket path %s is longer than %d bytes; use a shorter Dir (ShortDir)", n.Socket, maxSocketPath)
		}
		r.Nodes = append(r.Nodes, n)
	}
	if o.ClusterFile {
		if err := os.WriteFile(r.clusterFilePath(), []byte(r.clusterFile()), 0o600); err != nil {
			return nil, fmt.Errorf("localring: %w", err)
		}
	}
	return r, nil
}

// Start starts every daemon and waits, bounded by ctx, until they form one ring. On
// failure it kills what it started; the logs stay in o.Dir, whose name the error
// gives.
func Start(ctx context.Context, o Options) (*Ring, error) {
	r, err := New(o)
	if err != nil {
		return nil, err
	}
	for _, n := range r.Nodes {
		if err := r.StartNode(n); err != nil {
			return nil, errors.Join(err, r.Close())
		}
	}
	if _, err := r.WaitRing(ctx, r.Nodes...); err != nil {
		return nil, errors.Join(fmt.Errorf("%w (logs in %s)", err, o.Dir), r.Close())
	}
	return r, nil
}

// Cluster is the ring's cluster name.
func (r *Ring) Cluster() string { return r.opts.Cluster }

// Node returns the node with the given id, or nil if the ring has none.
func (r *Ring) Node(id int) *Node {
	if id < 1 || id > len(r.Nodes) {
		return nil
	}
	return r.Nodes[id-1]
}

// clusterFile is the ring as a cluster file: what every node reads with ClusterFile.
func (r *Ring) clusterFile() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster = %q\n", r.opts.Cluster)
	// TokenTimeout is the timeout the ring runs with, whatever its size.
	fmt.Fprintf(&b, "token-timeout = %q\ntoken-coefficient = \"0s\"\n", r.opts.TokenTimeout)
	if r.opts.Mcast != "" {
		fmt.Fprintf(&b, "transport = \"multicast\"\nmcast = %q\n", r.opts.Mcast)
	} else {
		b.WriteString("transport = \"udpu\"\n")
	}
	for _, p := range r.Nodes {
		fmt.Fprintf(&b, "\n[[node]]\nid = %d\naddress = %q\n", p.ID, p.Addr)
	}
	return b.String()
}

// clusterFilePath is where ClusterFile puts the cluster file.
func (r *Ring) clusterFilePath() string { return filepath.Join(r.opts.Dir, "cluster.toml") }

// args are n's totemd flags: every node is a peer, itself included, which is what a
// config shared by all the nodes of a cluster looks like.
func (r *Ring) args(n *Node) []string {
	if r.opts.ClusterFile {
		args := []string{"--config", r.clusterFilePath(), "--socket", n.Socket, "--state-dir", n.StateDir}
		if r.opts.Namespace == nil { // every node has this host's addresses
			args = append(args, "--node-id", fmt.Sprint(n.ID))
		}
		return append(args, r.opts.Args...)
	}
	args := []string{
		"--node-id", fmt.Sprint(n.ID), "--listen", n.Addr,
		"--socket", n.Socket, "--state-dir", n.StateDir,
		// TokenTimeout is the timeout the ring runs with, whatever its size.
		"--token-timeout", r.opts.TokenTimeout.String(), "--token-coefficient", "0", "--cluster", r.opts.Cluster,
	}
	if r.opts.Mcast != "" {
		args = append(args, "--mcast", r.opts.Mcast)
	} else {
		for _, p := range r.Nodes {
			args = append(args, "--peer", fmt.Sprintf("%d@%s", p.ID, p.Addr))
		}
	}
	return append(args, r.opts.Args...)
}

// StartNode starts n's daemon, which must not be running: the first time, or again
// after Kill (or after it exited) with the same id, address, socket and state
// directory, as a node restarted after a crash would be. Its output is appended to its
// log file, after a line that says when and how it was started.
func (r *Ring) StartNode(n *Node) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n.proc != nil && n.proc.running() {
		return fmt.Errorf("localring: totemd %d is already running (pid %d)", n.ID, n.proc.cmd.Process.Pid)
	}
	log, err := os.OpenFile(n.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("localring: %w", err)
	}
	args := r.args(n)
	var out io.Writer = log
	var line *lineWriter // nil without Options.Stdout
	if r.out != nil {
		line = &lineWriter{out: r.out, prefix: fmt.Sprintf("n%d: ", n.ID)}
		out = io.MultiWriter(log, line)
	}
	fmt.Fprintf(out, "=== %s totemd %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(r.opts.Totemd, args...)
	if r.opts.Namespace != nil { // ip execs the daemon: the pid is the daemon's
		cmd = exec.Command("ip", append([]string{"netns", "exec", r.opts.Namespace(n.ID), r.opts.Totemd}, args...)...)
	}
	cmd.Stdout, cmd.Stderr = out, out // the same writer: one pipe, lines in order
	// Wait copies the output until every holder of the pipe's write end is gone;
	// should the daemon ever leave a child holding it, Wait still returns.
	cmd.WaitDelay = time.Second
	DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("localring: start totemd %d: %w", n.ID, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	n.proc = p
	go func() {
		cmd.Wait()
		if line != nil {
			line.flush()
		}
		log.Close()
		close(p.exited)
	}()
	return nil
}

// current returns n's current or last process, or nil.
func (r *Ring) current(n *Node) *process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return n.proc
}

// Kill sends SIGKILL to n's daemon, if it runs, and waits (at most 10s) until it has
// exited, so that its port and socket are free for StartNode. A crash, not a shutdown:
// the daemon says goodbye to no one.
func (r *Ring) Kill(n *Node) error {
	p := r.current(n)
	if p == nil {
		return nil
	}
	p.cmd.Process.Kill() // fails only if it has exited already
	select {
	case <-p.exited:
	case <-time.After(killTimeout):
		return fmt.Errorf("localring: totemd %d (pid %d) still running %s after SIGKILL", n.ID, p.cmd.Process.Pid, killTimeout)
	}
	r.mu.Lock()
	if n.proc == p {
		n.proc = nil
	}
	r.mu.Unlock()
	return nil
}

// Running reports whether n's daemon runs: started and not yet exited.
func (r *Ring) Running(n *Node) bool {
	p := r.current(n)
	return p != nil && p.running()
}

// PID returns the process id of n's daemon, or 0 if it does not run.
func (r *Ring) PID(n *Node) int {
	if p := r.current(n); p != nil && p.running() {
		return p.cmd.Process.Pid
	}
	return 0
}

// Signal sends sig to n's daemon; with SIGQUIT, for instance, Go prints every
// goroutine's stack to the log before the daemon exits.
func (r *Ring) Signal(n *Node, sig os.Signal) error {
	p := r.current(n)
	if p == nil || !p.running() {
		return fmt.Errorf("localring: totemd %d is not running", n.ID)
	}
	return p.cmd.Process.Signal(sig)
}

// WaitExit waits until n's daemon has exited (at once if it does not run), or ctx is
// done.
func (r *Ring) WaitExit(ctx context.Context, n *Node) error {
	p := r.current(n)
	if p == nil {
		return nil
	}
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("localring: totemd %d (pid %d) still running: %w", n.ID, p.cmd.Process.Pid, context.Cause(ctx))
	}
}

// WaitRing waits until every node in ns (every node of the ring if ns is empty)
// reports, through client.Status over its socket, the operational state, exactly ns as
// the members and the same ring id; it returns that ring id ("rep.seq"). It asks every
// 50ms until ctx is done; the error then includes the last statuses seen.
//
// Members that are exactly ns, not merely include them, matter after a kill: the
// survivors must have noticed that the killed node is gone.
func (r *Ring) WaitRing(ctx context.Context, ns ...*Node) (string, error) {
	if len(ns) == 0 {
		ns = r.Nodes
	}
	want := make([]client.NodeID, len(ns))
	for i, n := range ns {
		want[i] = client.NodeID(n.ID)
	}
	slices.Sort(want)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var last []string
	for {
		ring, seen, ok := r.poll(ctx, ns, want)
		if ok {
			return ring, nil
		}
		// A poll cut short by ctx says less than the one before it.
		if ctx.Err() == nil || last == nil {
			last = seen
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return "", fmt.Errorf("localring: no ring of %v: %w; last statuses: %s", want, context.Cause(ctx), strings.Join(last, "; "))
		}
	}
}

// poll asks each node of ns once for its status. It reports whether they all agree on
// an operational ring of the members want, and describes what each said.
func (r *Ring) poll(ctx context.Context, ns []*Node, want []client.NodeID) (string, []string, bool) {
	var (
		seen  []string
		first *client.RingID
		ok    = true
	)
	for _, n := range ns {
		st, err := status(ctx, n.Socket)
		if err != nil {
			seen = append(seen, fmt.Sprintf("n%d: %v", n.ID, err))
			ok = false
			continue
		}
		seen = append(seen, fmt.Sprintf("n%d: %s ring %s members %v", n.ID, st.State, st.Ring, st.Members))
		members := slices.Sorted(slices.Values(st.Members))
		if st.State != "operational" || !slices.Equal(members, want) || (first != nil && st.Ring != *first) {
			ok = false
		}
		if first == nil {
			first = &st.Ring
		}
	}
	if !ok || first == nil {
		return "", seen, false
	}
	return first.String(), seen, true
}

// status asks the daemon at socket for its status, on a connection of its own: a
// daemon that was restarted since the last poll has a new listener.
func status(ctx context.Context, socket string) (client.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	c, err := client.Dial(ctx, socket, client.WithName("localring"))
	if err != nil {
		return client.Status{}, err
	}
	defer c.Close()
	return c.Status(ctx)
}

// Close kills every daemon and waits for each to exit. It may be called more than
// once; the ring's directory is left to the caller, who may want the logs.
func (r *Ring) Close() error {
	var errs []error
	for _, n := range r.Nodes {
		errs = append(errs, r.Kill(n))
	}
	return errors.Join(errs...)
}

// Log returns the contents of n's log file, or "" if there is none (yet).
func (n *Node) Log() string {
	b, err := os.ReadFile(n.LogPath)
	if err != nil {
		return ""
	}
	return string(b)
}

// raceWarning is what the race detector writes when it finds a race.
var raceWarning = []byte("WARNING: DATA RACE")

// Check returns an error if a daemon's log shows that the race detector found a race
// (daemons built with race set in Build): the race detector reports and carries on, so
// without looking a race in a daemon would go unnoticed by the test that caused it.
func (r *Ring) Check() error {
	var errs []error
	for _, n := range r.Nodes {
		b, err := os.ReadFile(n.LogPath)
		if err == nil && bytes.Contains(b, raceWarning) {
			errs = append(errs, fmt.Errorf("localring: totemd %d reported a data race (see %s)", n.ID, n.LogPath))
		}
	}
	return errors.Join(errs...)
}

// lineWriter passes one process's output to a LockedWriter a whole line at a time, so
// that the lines of several daemons interleave without mixing. Only the goroutine that
// exec uses to copy the process's output calls Write; flush follows once it is done.
type lineWriter struct {
	out    *cliutil.LockedWriter
	prefix string
	buf    []byte // the start of a line whose end has not come yet
}

// maxLine bounds what a lineWriter holds back waiting for a newline.
const maxLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	rest := w.buf
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		w.write(rest[:i+1])
		rest = rest[i+1:]
	}
	w.buf = append(w.buf[:0], rest...)
	if len(w.buf) > maxLine {
		w.flush()
	}
	return len(p), nil // errors of the output are ignored: see Options.Stdout
}

// flush writes what remains of an unterminated line.
// write passes one whole line on, prefixed, in one Write, so that a terminal or a test
// log gets it whole. Errors are ignored (see Options.Stdout).
func (w *lineWriter) write(line []byte) {
	w.out.Write(append([]byte(w.prefix), line...))
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.write(append(w.buf, '\n'))
		w.buf = w.buf[:0]
	}
}
