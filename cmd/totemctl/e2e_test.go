package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/totem-gcs/totem/demo/localring"
	"github.com/totem-gcs/totem/totem/client"
)

// The multi-process tests of issue 5: real totemd and totemctl binaries, built once
// here, three daemons in udpu mode on 127.0.0.1.

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "totemctl-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	switch err := buildBinaries(dir); {
	case errors.Is(err, exec.ErrNotFound):
		skipWhy = "the go command is not available to build totemd and totemctl: " + err.Error()
	case err != nil:
		fmt.Fprintln(os.Stderr, "building the binaries for the multi-process tests:", err)
		return 1
	}
	return m.Run()
}

var (
	viewLine    = regexp.MustCompile(`^\{"type":"view","group":"[^"]*","members":\[(\{"node":\d+,"pid":\d+\},?)*\],"joined":\[(\{"node":\d+,"pid":\d+,"reason":"[a-z-]+"\},?)*\],"left":\[(\{"node":\d+,"pid":\d+,"reason":"[a-z-]+"\},?)*\]\}$`)
	messageLine = regexp.MustCompile(`^\{"type":"message","group":"[^"]*","sender":\{"node":\d+,"pid":\d+\},"safe":(true|false),"data":".*"\}$`)
)

// TestTotalOrder: three daemons form one ring; a listener on every node; senders on
// every node at once; every listener prints the same message sequence, and each
// sender's messages come in the order it sent them.
func TestTotalOrder(t *testing.T) {
	c := newTestCluster(t, 3)
	const group, perSender = "order", 300
	total := perSender * len(c.nodes)
	var ls []*testListener
	for _, d := range c.nodes {
		ls = append(ls, startListen(t, d, "--group", group, "--count", fmt.Sprint(total), "--timeout", "40s"))
	}
	for _, l := range ls {
		l.waitJoined(10 * time.Second)
	}
	sendConcurrently(t, c, group, perSender)
	for _, l := range ls {
		if err := l.wait(30 * time.Second); err != nil {
			t.Fatalf("listener on node %d: %v; stderr: %s", l.node, err, l.stderr.String())
		}
	}
	want := ls[0].messages()
	if len(want) != total {
		t.Fatalf("listener on node 1 printed %d messages, want %d", len(want), total)
	}
	for _, l := range ls[1:] {
		if got := l.messages(); !slices.Equal(got, want) {
			t.Errorf("listener on node %d printed another sequence than node 1's (%d messages)", l.node, len(got))
		}
	}
	checkFormat(t, ls[0].snapshot())
	checkSenderOrder(t, want, perSender)
}

// sendConcurrently runs "totemctl send" on every node at once, each with perSender
// lines on standard input: "n<node> <i>".
func sendConcurrently(t *testing.T, c *testCluster, group string, perSender int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(c.nodes))
	for i, d := range c.nodes {
		var in strings.Builder
		for j := range perSender {
			fmt.Fprintf(&in, "n%d %d\n", d.ID, j)
		}
		wg.Go(func() {
			_, stderr, err := ctlInput(t, d, strings.NewReader(in.String()), "send", "--group", group)
			if err != nil {
				errs[i] = fmt.Errorf("send on node %d: %v: %s", d.ID, err, stderr)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// checkFormat checks every line against the exact shapes of listen --json.
func checkFormat(t *testing.T, lines []string) {
	t.Helper()
	for _, line := range lines {
		if !viewLine.MatchString(line) && !messageLine.MatchString(line) {
			t.Errorf("listen --json printed %s", line)
		}
	}
}

// checkSenderOrder checks that each sender's messages are its lines, in order.
func checkSenderOrder(t *testing.T, lines []string, perSender int) {
	t.Helper()
	next := map[int]int{}
	for _, line := range lines {
		ev := parseEvent(t, line)
		var node, i int
		if _, err := fmt.Sscanf(ev.Data, "n%d %d", &node, &i); err != nil || node != ev.Sender.Node {
			t.Fatalf("message %q from node %d", ev.Data, ev.Sender.Node)
		}
		if i != next[node] {
			t.Fatalf("from node %d: message %d where %d was due", node, i, next[node])
		}
		next[node]++
	}
	for node, n := range next {
		if n != perSender {
			t.Errorf("node %d: %d messages, want %d", node, n, perSender)
		}
	}
}

// TestKillAndRestart: a daemon killed with SIGKILL leaves the group views of the others
// with reason node-down, traffic goes on without it, and once restarted with the same
// id and state it is back in the ring and its clients get views again.
func TestKillAndRestart(t *testing.T) {
	c := newTestCluster(t, 3)
	const group = "kill"
	var ls []*testListener
	for _, d := range c.nodes {
		ls = append(ls, startListen(t, d, "--group", group, "--timeout", "50s"))
	}
	for _, l := range ls {
		l.waitEvent(0, 10*time.Second, "view", "a view of 3 members", func(ev ctlEvent) bool {
			return ev.Type == "view" && len(ev.Members) == 3
		})
	}
	ringBefore := c.waitRing(c.nodes...)
	victim, survivors := c.node(3), ls[:2]
	killed := time.Now()
	c.kill(victim)
	for _, l := range survivors {
		l.waitEvent(0, 10*time.Second, "view", "a view where node 3 left", func(ev ctlEvent) bool {
			return ev.Type == "view" && hasMember(ev.Left, victim.ID, ls[2].pid(), "node-down")
		})
		t.Logf("node %d: view with node 3's member left (node-down) %v after SIGKILL (token timeout %v, consensus %v)",
			l.node, time.Since(killed).Round(time.Millisecond), tokenTimeout, tokenTimeout*6/5)
	}
	if err := ls[2].wait(10 * time.Second); exitStatus(err) != 1 || !strings.Contains(ls[2].stderr.String(), "totemctl: ") {
		t.Errorf("listener on the killed node: exit %v, stderr %q; want status 1 and a totemctl: message", err, ls[2].stderr.String())
	}
	c.waitRing(c.node(1), c.node(2))
	sendAndSee(t, c.node(1), ls[1], group, "after the kill")

	c.start(victim)
	ringAfter := c.waitRing(c.nodes...)
	if ringAfter == ringBefore {
		t.Errorf("ring id after the restart is %s, the same as before", ringAfter)
	}
	back := startListen(t, victim, "--group", group, "--timeout", "30s")
	back.waitEvent(0, 10*time.Second, "view", "a view of 3 members with itself joined", func(ev ctlEvent) bool {
		return ev.Type == "view" && len(ev.Members) == 3 && ev.joined(victim.ID, back.pid())
	})
	sendAndSee(t, c.node(1), back, group, "after the restart")
}

// sendAndSee sends text on d and waits for l to print it.
func sendAndSee(t *testing.T, d *testDaemon, l *testListener, group, text string) {
	t.Helper()
	start := l.count()
	if _, stderr, err := ctl(t, d, "send", "--group", group, text); err != nil {
		t.Fatalf("send on node %d: %v: %s", d.ID, err, stderr)
	}
	l.waitEvent(start, 10*time.Second, "message", fmt.Sprintf("message %q", text), func(ev ctlEvent) bool {
		return ev.Type == "message" && ev.Data == text && ev.Sender.Node == d.ID
	})
}

// TestFloodAndSlowConsumer: a client flooding a group is slowed by backpressure and
// never fails, and all its messages reach listeners in order; a client of the same group
// that never reads its events is cut off as a slow consumer, while another client on
// its node keeps receiving everything.
//
// totemd has no flag for the per-client event queue, so the group then gets enough
// traffic to overflow the default one (65536 events): after the flood, two "totemctl
// send" processes push small messages until the stalled client is cut off, within
// bounds.
func TestFloodAndSlowConsumer(t *testing.T) {
	if os.Getenv("TOTEM_E2E_RACE") == "1" {
		t.Skip("daemons built with -race are too slow to overflow a client's event queue within this test's bounds")
	}
	c := newTestCluster(t, 3)
	const group, total = "flood", 20000
	sameNode := startListen(t, c.node(1), "--group", group, "--timeout", "55s")
	otherNode := startListen(t, c.node(2), "--group", group, "--timeout", "55s")
	stalled := dialTest(t, c.node(1), "stalled", client.WithEventBuffer(0))
	flooder := dialTest(t, c.node(3), "flooder")
	for _, cl := range []*client.Client{stalled, flooder} {
		if err := cl.Join(t.Context(), group); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []*testListener{sameNode, otherNode} {
		l.waitEvent(0, 10*time.Second, "view", "a view of 4 members", func(ev ctlEvent) bool {
			return ev.Type == "view" && len(ev.Members) == 4
		})
	}
	own := countOwn(flooder, total)
	cutOff := watchSlowConsumer(t, c.node(1), group, stalled)
	flood(t, flooder, group, total)

	start := time.Now()
	pushed := pushUntil(t, []*testDaemon{c.node(1), c.node(2)}, group, cutOff)
	t.Logf("the stalled client was cut off as a slow consumer after %d more messages from the pushers, in %v",
		pushed, time.Since(start).Round(time.Millisecond))
	for _, l := range []*testListener{sameNode, otherNode} {
		l.waitEvent(0, 30*time.Second, "view", "the stalled client leaving", func(ev ctlEvent) bool {
			return ev.Type == "view" && hasMember(ev.Left, 1, os.Getpid(), "disconnect")
		})
		waitMessages(t, l, total+pushed, 30*time.Second)
		checkFlood(t, l, total)
	}
	select {
	case n := <-own:
		if n != total {
			t.Errorf("the flooder got %d of its own messages back, want %d", n, total)
		}
	case <-time.After(10 * time.Second):
		t.Error("the flooder did not get its own messages back")
	}
}

// pushUntil runs "totemctl send" on each daemon and feeds it lines until cutOff
// reports (at most 100,000 lines in all, 40 seconds); it fails the test unless cutOff
// reported success and every send exited 0, and returns how many lines were sent. Each
// send exits only once it has sent every line it was given, so the count is exact.
func pushUntil(t *testing.T, ds []*testDaemon, group string, cutOff <-chan error) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	stop := make(chan struct{})
	results := make([]chan pushResult, len(ds))
	for i, d := range ds {
		results[i] = make(chan pushResult, 1)
		go func() { results[i] <- pushLines(ctx, d, group, 100_000/len(ds), stop) }()
	}
	var cutErr error
	select {
	case cutErr = <-cutOff:
	case <-ctx.Done():
		cutErr = errors.New("the stalled client was not cut off within 40s")
	}
	close(stop)
	n := 0
	for _, r := range results {
		res := <-r
		if res.err != nil {
			t.Error(res.err)
		}
		n += res.n
	}
	if cutErr != nil {
		t.Fatal(cutErr)
	}
	return n
}

type pushResult struct {
	n   int
	err error
}

// pushLines runs "totemctl send" on d and writes up to max lines to it, in chunks,
// until stop is closed; then it closes its input and waits for it to exit.
func pushLines(ctx context.Context, d *testDaemon, group string, max int, stop <-chan struct{}) pushResult {
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "totemctl"), "--socket", d.Socket, "send", "--group", group)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	localring.DieWithParent(cmd)
	in, err := cmd.StdinPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		return pushResult{err: err}
	}
	// Long lines, so that the pipe and send's buffer hold few of them when stop comes.
	const perChunk = 50
	chunk := []byte(strings.Repeat("push "+strings.Repeat("x", 195)+"\n", perChunk))
	n := 0
	for n < max && !closed(stop) {
		if _, err := in.Write(chunk); err != nil {
			break
		}
		n += perChunk
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return pushResult{n: n, err: fmt.Errorf("send on node %d: %v: %s", d.ID, err, stderr.String())}
	}
	return pushResult{n: n}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// waitMessages waits until l has printed n messages.
func waitMessages(t *testing.T, l *testListener, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for len(l.messages()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("listener on node %d: %d messages after %s, want %d", l.node, len(l.messages()), d, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := len(l.messages()); got != n {
		t.Errorf("listener on node %d: %d messages, want %d", l.node, got, n)
	}
}

// dialTest connects a Go client to d; it is closed when the test ends.
func dialTest(t *testing.T, d *testDaemon, name string, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), ctlTimeout)
	defer cancel()
	cl, err := client.Dial(ctx, d.Socket, append(opts, client.WithName(name))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// countOwn reads cl's events until the connection ends; it sends the number of cl's
// own messages once want of them have come back, or at the end.
func countOwn(cl *client.Client, want int) <-chan int {
	me := cl.Info()
	n := make(chan int, 1)
	go func() {
		own := 0
		for ev := range cl.Events() {
			if m, ok := ev.(client.Message); ok && m.Sender.Node == me.NodeID && m.Sender.Session == me.Session {
				if own++; own == want {
					n <- own
				}
			}
		}
		if own < want {
			n <- own
		}
	}()
	return n
}

// flood multicasts total messages as fast as the daemon takes them, within 20 seconds,
// and logs how backpressure paced it.
func flood(t *testing.T, cl *client.Client, group string, total int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	pad := strings.Repeat("x", 180)
	var slowest time.Duration
	held := 0 // calls held back for over a millisecond
	start := time.Now()
	for i := range total {
		t0 := time.Now()
		if err := cl.Multicast(ctx, group, fmt.Appendf(nil, "flood %06d %s", i, pad), client.Agreed); err != nil {
			t.Fatalf("multicast %d of %d: %v", i, total, err)
		}
		d := time.Since(t0)
		slowest = max(slowest, d)
		if d > time.Millisecond {
			held++
		}
	}
	elapsed := time.Since(start)
	t.Logf("flooded %d messages in %v (%.0f msg/s); %d calls held back over 1ms, the longest %v",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), held, slowest.Round(time.Microsecond))
}

// watchSlowConsumer watches, from another client of d, for the stalled client to drop
// out of group; then it reads what the stalled connection still holds, and reports
// whether the daemon said that it cut it off as a slow consumer. It must read promptly:
// the daemon waits only a while (2s) for a client to take that reason. The channel
// gets nil on success; it is buffered, and the goroutine ends within 30s in any case.
func watchSlowConsumer(t *testing.T, d *testDaemon, group string, stalled *client.Client) <-chan error {
	watcher := dialTest(t, d, "watcher")
	me := stalled.Info()
	result := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := awaitCut(ctx, watcher, group, me)
		if err == nil {
			err = drainUntil(ctx, stalled)
		}
		result <- err
	}()
	return result
}

// awaitCut polls the group's members until the session me has gone.
func awaitCut(ctx context.Context, watcher *client.Client, group string, me client.Info) error {
	for {
		ms, err := watcher.Members(ctx, group)
		if err != nil {
			return fmt.Errorf("watching the stalled client: %w", err)
		}
		if !slices.ContainsFunc(ms, func(m client.Member) bool { return m.Node == me.NodeID && m.Session == me.Session }) {
			return nil
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("the stalled client still a member: %w", ctx.Err())
		}
	}
}

// drainUntil reads cl's events until the connection ends and checks why it ended.
func drainUntil(ctx context.Context, cl *client.Client) error {
	for {
		select {
		case _, ok := <-cl.Events():
			if ok {
				continue
			}
			if err := cl.Err(); !errors.Is(err, client.ErrSlowConsumer) || !errors.Is(err, client.ErrDaemonGone) {
				return fmt.Errorf("the stalled client ended with %v, want ErrDaemonGone with ErrSlowConsumer", err)
			}
			return nil
		case <-ctx.Done():
			return fmt.Errorf("the stalled client's connection still open: %w", ctx.Err())
		}
	}
}

// checkFlood checks that l printed the flooder's messages (node 3), in order.
func checkFlood(t *testing.T, l *testListener, total int) {
	t.Helper()
	i := 0
	for _, line := range l.messages() {
		ev := parseEvent(t, line)
		if ev.Sender.Node != 3 {
			continue
		}
		if want := fmt.Sprintf("flood %06d ", i); !strings.HasPrefix(ev.Data, want) {
			t.Fatalf("listener on node %d: flood message %d is %.20q, want %q", l.node, i, ev.Data, want)
		}
		i++
	}
	if i != total {
		t.Errorf("listener on node %d: %d flood messages, want %d", l.node, i, total)
	}
}

// TestOutputShapes checks the JSON of status, groups and members key by key, and that
// their text forms are the aligned tables they should be.
func TestOutputShapes(t *testing.T) {
	c := newTestCluster(t, 3)
	ring := c.waitRing(c.nodes...)
	for _, d := range c.nodes {
		checkStatus(t, d, ring)
	}
	l := startListen(t, c.node(2), "--group", "shapes", "--timeout", "30s")
	l.waitJoined(10 * time.Second)
	pid := l.pid()
	groupsJSON := pollCtl(t, c.node(1), fmt.Sprintf(`"pid":%d`, pid), "groups", "--json")
	checkGroupsJSON(t, groupsJSON, pid)
	for _, args := range [][]string{{"members", "--json"}, {"members", "--json", "--group", "shapes"}} {
		out, _, err := ctl(t, c.node(1), args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		checkMembersJSON(t, out, pid)
	}
	if out, _, _ := ctl(t, c.node(1), "members", "--json", "--group", "none"); out != "[]\n" {
		t.Errorf("members of an empty group: %q, want []", out)
	}
	checkText(t, c.node(1), []string{"groups"}, `^GROUP +MEMBERS\nshapes +1\n$`)
	checkText(t, c.node(1), []string{"members"},
		fmt.Sprintf(`^GROUP +NODE +PID +SESSION +NAME\nshapes +2 +%d +\d+ +totemctl listen\n$`, pid))
	checkText(t, c.node(2), []string{"status"},
		fmt.Sprintf(`^node id +2\nstate +operational\nring id +%s\nmembers +1 2 3\ntoken rotation +([0-9.]+[µm]?s|not measured)\n`+
			`transport +udpu\nkey +none: unauthenticated \(datagrams are only checksummed\)\ntimers +token 300ms, token retransmit [^\n]+, consensus 360ms, join [^\n]+\n\n`+
			`NODE +ADDRESS +STATE +LAST HEARD\n1 +127\.0\.0\.1:\d+ +member +[0-9.]+s ago\n2 +127\.0\.0\.1:\d+ +member +\(this node\)\n3 +127\.0\.0\.1:\d+ +member +[0-9.]+s ago\n\n`+
			`auth failures +0\nreplayed +0\nduplicate node id +0\n$`, regexp.QuoteMeta(ring)))
	// The listener's join went round the ring: node 1 has timed the token since.
	pollStatus(t, c.node(1), regexp.MustCompile(`\ntoken rotation +[0-9.]+[µm]?s\n`))
}

// checkStatus checks status --json on d: exactly its keys, with their types.
func checkStatus(t *testing.T, d *testDaemon, ring string) {
	t.Helper()
	out, _, err := ctl(t, d, "status", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("status --json: %q: %v", out, err)
	}
	if keys := slices.Sorted(maps.Keys(raw)); !slices.Equal(keys, []string{"auth_failures", "duplicate_id", "key", "members", "node_id", "nodes", "replayed", "ring_id", "rotation_us", "security", "state", "timers", "transport"}) {
		t.Errorf("status --json keys %v", keys)
	}
	timers := `\{"token_us":300000,"token_retransmit_us":\d+,"token_retransmit_min_us":\d+,"hold_us":\d+,"fail_to_receive_us":\d+,"consensus_us":360000,"join_us":\d+,"merge_us":\d+\}`
	var nodes []string
	for id := 1; id <= 3; id++ {
		heard, self := `\d+`, "false"
		if id == d.ID {
			heard, self = "null", "true"
		}
		nodes = append(nodes, fmt.Sprintf(`\{"node_id":%d,"address":"127\.0\.0\.1:\d+","state":"member","self":%s,"configured":true,"heard_ago_us":%s\}`, id, self, heard))
	}
	want := fmt.Sprintf(`^\{"node_id":%d,"state":"operational","ring_id":"%s","members":\[1,2,3\],"rotation_us":\d+,"security":"unauthenticated","auth_failures":0,"replayed":0,"duplicate_id":0,`+
		`"transport":"udpu","key":false,"timers":%s,"nodes":\[%s\]\}\n$`, d.ID, regexp.QuoteMeta(ring), timers, strings.Join(nodes, ","))
	if !regexp.MustCompile(want).MatchString(out) {
		t.Errorf("status --json on node %d:\n got %s\nwant %s", d.ID, out, want)
	}
	if !regexp.MustCompile(`^\d+\.\d+$`).MatchString(ring) {
		t.Errorf("ring_id %q is not REP.SEQ", ring)
	}
}

// pollCtl runs totemctl until its output contains want (the daemon learns of members on
// other nodes through the ring), for at most 10 seconds.
func pollCtl(t *testing.T, d *testDaemon, want string, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, stderr, err := ctl(t, d, args...)
		if err == nil && strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v on node %d: %q (%v, %s) never contained %s", args, d.ID, out, err, stderr, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func checkGroupsJSON(t *testing.T, out string, pid int) {
	t.Helper()
	var gs []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &gs); err != nil || len(gs) != 1 {
		t.Fatalf("groups --json: %q (%v), want one group", out, err)
	}
	if keys := slices.Sorted(maps.Keys(gs[0])); !slices.Equal(keys, []string{"group", "members"}) {
		t.Errorf("groups --json group keys %v", keys)
	}
	var members []map[string]any
	if err := json.Unmarshal(gs[0]["members"], &members); err != nil || len(members) != 1 {
		t.Fatalf("groups --json members: %s (%v), want one", gs[0]["members"], err)
	}
	checkMember(t, members[0], []string{"name", "node", "pid", "session"}, pid)
}

func checkMembersJSON(t *testing.T, out string, pid int) {
	t.Helper()
	var ms []map[string]any
	if err := json.Unmarshal([]byte(out), &ms); err != nil || len(ms) != 1 {
		t.Fatalf("members --json: %q (%v), want one member", out, err)
	}
	checkMember(t, ms[0], []string{"group", "name", "node", "pid", "session"}, pid)
	if ms[0]["group"] != "shapes" {
		t.Errorf("members --json: group %v, want shapes", ms[0]["group"])
	}
}

func checkMember(t *testing.T, m map[string]any, keys []string, pid int) {
	t.Helper()
	if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, keys) {
		t.Errorf("member keys %v, want %v", got, keys)
	}
	if m["node"] != 2.0 || m["pid"] != float64(pid) || m["name"] != "totemctl listen" {
		t.Errorf("member %v, want node 2, pid %d, name \"totemctl listen\"", m, pid)
	}
}

func checkText(t *testing.T, d *testDaemon, args []string, pattern string) {
	t.Helper()
	out, _, err := ctl(t, d, args...)
	if err != nil || !regexp.MustCompile(pattern).MatchString(out) {
		t.Errorf("%v: %q (%v), want it to match %s", args, out, err, pattern)
	}
}
