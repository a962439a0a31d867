package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/totem-gcs/totem/demo/localring"
	"github.com/totem-gcs/totem/totem/client"
	"github.com/totem-gcs/totem/totem/ipc/ipctest"
)

// These tests run the chat program in this process (run, as main does) against an
// in-process daemon: several chat members, their standard input a pipe, their output
// read line by line. Every wait is bounded by testTimeout.

const testTimeout = 20 * time.Second

// chatProc is one chat program running in this process.
type chatProc struct {
	t      *testing.T
	nick   string
	stdin  *os.File // the write end of its standard input
	out    lineBuffer
	errOut syncBuffer
	cancel context.CancelFunc // its "signal"
	exited chan struct{}
	code   int // once exited

	mu sync.Mutex
	cl *client.Client
}

// startChat runs chat with --socket socket --nick nick and args. The test's cleanup
// ends it and waits for it.
func startChat(t *testing.T, socket, nick string, args ...string) *chatProc {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &chatProc{t: t, nick: nick, stdin: w, cancel: cancel, exited: make(chan struct{})}
	p.out.changed = make(chan struct{}, 1)
	e := &env{stdin: r, stdout: &p.out, stderr: &p.errOut, dialed: func(c *client.Client) {
		p.mu.Lock()
		p.cl = c
		p.mu.Unlock()
	}}
	argv := append([]string{"chat", "--socket", socket, "--nick", nick}, args...)
	go func() {
		p.code = runEnv(ctx, argv, e)
		p.out.close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cancel()
		w.Close()
		if !p.waitExit() {
			t.Errorf("%s: still running %s after the test", nick, testTimeout)
		}
		r.Close()
		if t.Failed() {
			t.Logf("%s's screen:\n%s\n%s's standard error:\n%s", nick, strings.Join(p.lines(), "\n"), nick, p.errOut.String())
		}
	})
	return p
}

// say writes lines to the program's standard input.
func (p *chatProc) say(lines ...string) {
	p.t.Helper()
	for _, l := range lines {
		if _, err := fmt.Fprintln(p.stdin, l); err != nil {
			p.t.Fatalf("%s: writing %q: %v", p.nick, l, err)
		}
	}
}

func (p *chatProc) lines() []string { return p.out.snapshot() }

// waitLine waits for a line at index from or later that satisfies ok, and returns its
// index.
func (p *chatProc) waitLine(from int, what string, ok func(string) bool) int {
	p.t.Helper()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	for {
		lines, closed := p.out.state()
		for i := from; i < len(lines); i++ {
			if ok(lines[i]) {
				return i
			}
		}
		from = max(from, len(lines))
		if closed {
			p.t.Fatalf("%s exited (status %d) without %s; stderr: %s", p.nick, p.code, what, p.errOut.String())
		}
		select {
		case <-p.out.changed:
		case <-timer.C:
			p.t.Fatalf("%s: no %s within %s", p.nick, what, testTimeout)
		}
	}
}

// waitFor waits for the exact line.
func (p *chatProc) waitFor(line string) int {
	p.t.Helper()
	return p.waitLine(0, fmt.Sprintf("line %q", line), func(l string) bool { return l == line })
}

// waitSynced waits until the program has printed its history.
func (p *chatProc) waitSynced() int {
	p.t.Helper()
	return p.waitFor("--- end of history ---")
}

func (p *chatProc) waitExit() bool {
	select {
	case <-p.exited:
		return true
	case <-time.After(testTimeout):
		return false
	}
}

// wait waits for the program to exit and returns its status.
func (p *chatProc) wait() int {
	p.t.Helper()
	if !p.waitExit() {
		p.t.Fatalf("%s still running after %s", p.nick, testTimeout)
	}
	return p.code
}

func (p *chatProc) client() *client.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cl
}

// events returns the room's lines on the screen: the history and the live lines, without
// the history block's header and footer and without /who's lines.
func (p *chatProc) events() []string {
	var ev []string
	for _, l := range p.lines() {
		if !strings.HasPrefix(l, "--- ") {
			ev = append(ev, l)
		}
	}
	return ev
}

// count returns how many lines satisfy ok.
func count(lines []string, ok func(string) bool) int {
	n := 0
	for _, l := range lines {
		if ok(l) {
			n++
		}
	}
	return n
}

// lineBuffer collects written output as lines.
type lineBuffer struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	closed  bool
	changed chan struct{} // capacity 1
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.partial = append(b.partial, p...)
	for {
		i := bytes.IndexByte(b.partial, '\n')
		if i < 0 {
			break
		}
		b.lines = append(b.lines, string(b.partial[:i]))
		b.partial = b.partial[i+1:]
	}
	b.mu.Unlock()
	b.poke()
	return len(p), nil
}

func (b *lineBuffer) poke() {
	select {
	case b.changed <- struct{}{}:
	default:
	}
}

func (b *lineBuffer) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.poke()
}

func (b *lineBuffer) state() ([]string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.lines), b.closed
}

func (b *lineBuffer) snapshot() []string {
	lines, _ := b.state()
	return lines
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer = localring.Buffer

// runOnce runs chat to its end with the given standard input.
func runOnce(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut syncBuffer
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	code = run(ctx, append([]string{"chat"}, args...), strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestUsageErrors(t *testing.T) {
	t.Setenv("USER", "")
	tests := []struct {
		name string
		args []string
	}{
		{"no nick", nil},
		{"argument", []string{"--nick", "a", "hello"}},
		{"unknown flag", []string{"--nick", "a", "--bogus"}},
		{"negative history", []string{"--nick", "a", "--history", "-1"}},
		{"huge history", []string{"--nick", "a", "--history", "1000000"}},
		{"empty room", []string{"--nick", "a", "--room", ""}},
		{"long nick", []string{"--nick", strings.Repeat("n", 256)}},
		{"zero sync timeout", []string{"--nick", "a", "--sync-timeout", "0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--socket", "/nonexistent/totemd.sock"}, tt.args...)
			_, stderr, code := runOnce(t, "", args...)
			if code != 2 || !strings.HasPrefix(stderr, "chat: ") {
				t.Errorf("exit %d, stderr %q; want 2 and a chat: message", code, stderr)
			}
		})
	}
}

func TestNoDaemon(t *testing.T) {
	_, stderr, code := runOnce(t, "", "--socket", "/nonexistent/totemd.sock", "--nick", "a")
	if code != 1 || !strings.Contains(stderr, "is totemd running?") {
		t.Errorf("exit %d, stderr %q; want 1 and a hint", code, stderr)
	}
}

// TestSocketFromEnvironment: TOTEM_SOCKET names the socket, USER the nickname; the end
// of input leaves (exit 0), and one's own leave is the last line.
func TestSocketFromEnvironment(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	t.Setenv("TOTEM_SOCKET", d.Socket)
	t.Setenv("USER", "envuser")
	out, stderr, code := runOnce(t, "hello\n")
	want := "--- history (0 messages) ---\n--- end of history ---\n* envuser joined (node 1)\n<envuser> hello\n* envuser left (leave)\n"
	if code != 0 || out != want {
		t.Errorf("exit %d, output\n%s\nstderr %s\nwant output\n%s", code, out, stderr, want)
	}
}

// TestSameOrder: three members join at once and talk at once; every screen shows the
// same lines, each a suffix of the first member's (the history and the live lines
// match exactly), and every member sees everyone's messages in the order sent.
func TestSameOrder(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	nicks := []string{"alice", "bob", "carol"}
	var ps []*chatProc
	for _, n := range nicks {
		ps = append(ps, startChat(t, d.Socket, n))
	}
	for _, p := range ps {
		p.waitSynced()
	}
	for _, p := range ps { // everyone has seen everyone join
		for _, n := range nicks {
			p.waitFor(fmt.Sprintf("* %s joined (node 1)", n))
		}
	}
	const perMember = 30
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() {
			for i := range perMember {
				fmt.Fprintf(p.stdin, "%s %d\n", p.nick, i)
			}
		})
	}
	wg.Wait()
	isMsg := func(l string) bool { return strings.HasPrefix(l, "<") }
	for _, p := range ps {
		for _, n := range nicks {
			p.waitFor(fmt.Sprintf("<%s> %s %d", n, n, perMember-1))
		}
	}
	screens := make([][]string, len(ps))
	longest := 0
	for i, p := range ps {
		screens[i] = p.events()
		if len(screens[i]) > len(screens[longest]) {
			longest = i
		}
		if n := count(screens[i], isMsg); n != perMember*len(ps) {
			t.Errorf("%s shows %d messages, want %d", p.nick, n, perMember*len(ps))
		}
		for _, n := range nicks { // each sender's messages in the order sent
			next := 0
			for _, l := range screens[i] {
				if strings.HasPrefix(l, "<"+n+"> ") {
					if l != fmt.Sprintf("<%s> %s %d", n, n, next) {
						t.Errorf("%s shows %q, want %s's message %d", p.nick, l, n, next)
					}
					next++
				}
			}
		}
	}
	for i, p := range ps {
		if !slices.Equal(screens[i], screens[longest][len(screens[longest])-len(screens[i]):]) {
			t.Errorf("%s's screen is not a suffix of %s's:\n%s\n---\n%s", p.nick, ps[longest].nick,
				strings.Join(screens[i], "\n"), strings.Join(screens[longest], "\n"))
		}
	}
	// /quit leaves: the others see the reason, the leaver's own last line says so too.
	ps[0].say("/quit")
	if code := ps[0].wait(); code != 0 {
		t.Errorf("alice: exit %d after /quit; stderr %s", code, ps[0].errOut.String())
	}
	if l := ps[0].lines(); l[len(l)-1] != "* alice left (leave)" {
		t.Errorf("alice's last line %q", l[len(l)-1])
	}
	for _, p := range ps[1:] {
		p.waitFor("* alice left (leave)")
	}
}

// TestHistory: a newcomer gets exactly the last --history lines of the others' screens
// as of its join, then its join notice and the room live, like everyone else.
func TestHistory(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	alice := startChat(t, d.Socket, "alice")
	alice.waitSynced()
	bob := startChat(t, d.Socket, "bob")
	bob.waitSynced()
	alice.waitFor("* bob joined (node 1)")
	for i := range 5 {
		alice.say(fmt.Sprintf("a%d", i))
		alice.waitFor(fmt.Sprintf("<alice> a%d", i))
		bob.say(fmt.Sprintf("b%d", i))
		alice.waitFor(fmt.Sprintf("<bob> b%d", i))
	}
	bob.waitFor("<bob> b4")
	before := alice.events()

	carol := startChat(t, d.Socket, "carol", "--history", "4")
	carol.waitSynced()
	alice.say("after")
	for _, p := range []*chatProc{alice, bob, carol} {
		p.waitFor("<alice> after")
	}
	want := []string{"--- history (4 messages) ---"}
	want = append(want, before[len(before)-4:]...)
	want = append(want, "--- end of history ---", "* carol joined (node 1)", "<alice> after")
	if got := carol.lines(); !slices.Equal(got, want) {
		t.Errorf("carol's screen\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, p := range []*chatProc{alice, bob} {
		got := p.events()
		if i := slices.Index(got, "* carol joined (node 1)"); i < 0 || !slices.Equal(got[i:], want[6:]) {
			t.Errorf("%s's screen from carol's join: %q, want %q", p.nick, got[max(i, 0):], want[6:])
		}
	}

	// Once alice is gone, bob hands over the history, his screen as it is.
	alice.say("/quit")
	if code := alice.wait(); code != 0 {
		t.Errorf("alice: exit %d", code)
	}
	bob.waitFor("* alice left (leave)")
	carol.waitFor("* alice left (leave)")
	bobBefore := bob.events()
	dave := startChat(t, d.Socket, "dave", "--history", "1000")
	dave.waitSynced()
	wantDave := append([]string{fmt.Sprintf("--- history (%d messages) ---", len(bobBefore))}, bobBefore...)
	wantDave = append(wantDave, "--- end of history ---", "* dave joined (node 1)")
	carol.waitFor("* dave joined (node 1)")
	if got := dave.lines(); !slices.Equal(got, wantDave) {
		t.Errorf("dave's screen\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantDave, "\n"))
	}
}

// TestLeaveReasons: /quit, the end of input and a signal leave ("leave"); a connection
// cut abruptly is a "disconnect", and that member's program exits 1.
func TestLeaveReasons(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	watcher := startChat(t, d.Socket, "watcher")
	watcher.waitSynced()
	for _, tt := range []struct {
		nick string
		end  func(p *chatProc)
		code int
		line string
	}{
		{"quitter", func(p *chatProc) { p.say("/quit") }, 0, "* quitter left (leave)"},
		{"eof", func(p *chatProc) { p.stdin.Close() }, 0, "* eof left (leave)"},
		{"signalled", func(p *chatProc) { p.cancel() }, 0, "* signalled left (leave)"},
		{"cut", func(p *chatProc) { p.client().Close() }, 1, "* cut left (disconnect)"},
	} {
		p := startChat(t, d.Socket, tt.nick)
		p.waitSynced()
		watcher.waitFor(fmt.Sprintf("* %s joined (node 1)", tt.nick))
		tt.end(p)
		if code := p.wait(); code != tt.code {
			t.Errorf("%s: exit %d, want %d; stderr %s", tt.nick, code, tt.code, p.errOut.String())
		}
		watcher.waitFor(tt.line)
	}
}

// TestDaemonGone: when the daemon goes away, chat says so and exits 1.
func TestDaemonGone(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	p := startChat(t, d.Socket, "alice")
	p.waitSynced()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	d.StopServing(ctx)
	if code := p.wait(); code != 1 || !strings.Contains(p.errOut.String(), "lost the connection to the daemon") {
		t.Errorf("exit %d, stderr %q; want 1 and the reason", code, p.errOut.String())
	}
}

// TestWhoAndCommands: /who lists the members on one local line; unknown commands are
// refused on standard error; "//" sends a leading slash.
func TestWhoAndCommands(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	alice := startChat(t, d.Socket, "alice")
	alice.waitSynced()
	bob := startChat(t, d.Socket, "bob")
	bob.waitSynced()
	alice.waitFor("* bob joined (node 1)")
	alice.say("/who", "/bogus", "//slash", "   ", "")
	alice.waitFor("--- members (2): alice (node 1), bob (node 1) ---")
	bob.waitFor("<alice> /slash")
	if !strings.Contains(alice.errOut.String(), "unknown command /bogus") {
		t.Errorf("alice's stderr: %q", alice.errOut.String())
	}
	if slices.Contains(bob.lines(), "--- members (2): alice (node 1), bob (node 1) ---") {
		t.Error("/who printed on another screen")
	}
	long := strings.Repeat("x", maxLine+1)
	alice.say(long, "short")
	bob.waitFor("<alice> short")
	if slices.Contains(bob.lines(), "<alice> "+long) || !strings.Contains(alice.errOut.String(), "not sent") {
		t.Errorf("a line over %d bytes was sent, or not reported", maxLine)
	}
}

// TestMalformed: another program multicasts junk into the room: every chat member
// ignores it alike and reports it on standard error; a newcomer still gets the history
// from a chat member.
func TestMalformed(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	alice := startChat(t, d.Socket, "alice")
	alice.waitSynced()
	bob := startChat(t, d.Socket, "bob")
	bob.waitSynced()

	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	raw, err := client.Dial(ctx, d.Socket, client.WithName("mallory"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	go func() { // mallory reads nothing of interest but must keep reading
		for range raw.Events() {
		}
	}()
	if err := raw.Join(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	junk := [][]byte{{}, {0}, {99, 1, 2, 3}, []byte("plain text"), {byte(kindWant)}, {byte(kindHistory), 0xdd, 0xff, 0xff, 0xff, 0xff},
		{byte(kindClaim), 0x91}, append([]byte{byte(kindText)}, "fine, a line"...), {byte(kindText), 'a', '\n', 0xff}}
	for _, data := range junk {
		if err := raw.Multicast(ctx, "lobby", data, client.Agreed); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*chatProc{alice, bob} {
		p.waitFor(`<mallory> "a\n\xff"`)
	}
	carol := startChat(t, d.Socket, "carol")
	carol.waitSynced()
	alice.say("still fine")
	for _, p := range []*chatProc{alice, bob, carol} {
		p.waitFor("<alice> still fine")
		got := p.events()
		i := slices.Index(got, "* mallory joined (node 1)")
		want := []string{"* mallory joined (node 1)", "<mallory> fine, a line", `<mallory> "a\n\xff"`, "* carol joined (node 1)", "<alice> still fine"}
		if i < 0 || !slices.Equal(got[i:], want) {
			t.Errorf("%s's screen %q, want it to end %q", p.nick, got, want)
		}
	}
	for _, p := range []*chatProc{alice, bob} {
		if n := strings.Count(p.errOut.String(), "ignoring a message from mallory"); n != 7 {
			t.Errorf("%s reported %d malformed messages, want 7: %s", p.nick, n, p.errOut.String())
		}
	}
}

// TestStranger: a program that is no chat member is in the room before anyone: the
// first chat member cannot know it holds no history, waits --sync-timeout, then starts
// without; the next one gets its history from that member, not from the stranger.
func TestStranger(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	raw, err := client.Dial(ctx, d.Socket, client.WithName("listener"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	go func() {
		for range raw.Events() {
		}
	}()
	if err := raw.Join(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	alice := startChat(t, d.Socket, "alice", "--sync-timeout", "200ms")
	alice.waitSynced()
	if !strings.Contains(alice.errOut.String(), "no history within 200ms") {
		t.Errorf("alice's stderr: %q", alice.errOut.String())
	}
	bob := startChat(t, d.Socket, "bob", "--sync-timeout", "1h")
	bob.waitSynced()
	want := []string{"--- history (1 messages) ---", "* alice joined (node 1)", "--- end of history ---", "* bob joined (node 1)"}
	if got := bob.lines(); !slices.Equal(got, want) {
		t.Errorf("bob's screen %q, want %q", got, want)
	}
}
