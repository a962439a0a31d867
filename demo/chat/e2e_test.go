package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/totem-gcs/totem/demo/localring"
	"github.com/totem-gcs/totem/demo/localring/ringtest"
)

// The end-to-end test runs real totemd and chat processes on 127.0.0.1 (demo/localring),
// as people would in terminals: a chat per node, fed through pipes. The binaries are
// built once, when the first such test runs (with the race detector if
// TOTEM_E2E_RACE=1). Every process dies with the test; every wait is bounded.

const e2eTimeout = 30 * time.Second

func TestMain(m *testing.M) {
	code := m.Run()
	ringtest.Cleanup()
	os.Exit(code)
}

// binaries builds totemd and chat once, or skips the test where that cannot be done.
func binaries(t *testing.T) string {
	t.Helper()
	return ringtest.Binaries(t, "github.com/totem-gcs/totem/cmd/totemd", "github.com/totem-gcs/totem/demo/chat")
}

// chatExe is a chat process.
type chatExe struct {
	*localring.Process
	t    *testing.T
	nick string
	node int
}

func startChatExe(t *testing.T, bin string, nd *localring.Node, nick string, args ...string) *chatExe {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "chat"), append([]string{"--socket", nd.Socket, "--nick", nick}, args...)...)
	proc, err := localring.StartProcess(cmd, nil)
	if err != nil {
		t.Fatalf("chat %s on node %d: %v", nick, nd.ID, err)
	}
	p := &chatExe{Process: proc, t: t, nick: nick, node: nd.ID}
	t.Cleanup(func() {
		p.Stdin.Close()
		p.Stop(5 * time.Second)
		if strings.Contains(p.Stderr(), "WARNING: DATA RACE") {
			t.Errorf("chat %s reported a data race", nick)
		}
		if t.Failed() {
			t.Logf("--- chat %s on node %d: screen:\n%s\nstderr:\n%s", nick, p.node, strings.Join(p.Lines(), "\n"), p.Stderr())
		}
	})
	return p
}

func (p *chatExe) waitFor(line string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	if _, err := p.WaitLine(ctx, 0, func(l string) bool { return l == line }); err != nil {
		p.t.Fatalf("chat %s on node %d: no line %q: %v", p.nick, p.node, line, err)
	}
}

// events returns the screen's room lines (history and live).
func (p *chatExe) events() []string {
	var ev []string
	for _, l := range p.Lines() {
		if !strings.HasPrefix(l, "--- ") {
			ev = append(ev, l)
		}
	}
	return ev
}

// sameScreens checks that every screen is a suffix of the longest one.
func sameScreens(t *testing.T, ps ...*chatExe) {
	t.Helper()
	screens := make([][]string, len(ps))
	longest := 0
	for i, p := range ps {
		screens[i] = p.events()
		if len(screens[i]) > len(screens[longest]) {
			longest = i
		}
	}
	all := screens[longest]
	for i, p := range ps {
		if !slices.Equal(screens[i], all[len(all)-len(screens[i]):]) {
			t.Errorf("%s's screen is not a suffix of %s's:\n%s\n---\n%s", p.nick, ps[longest].nick,
				strings.Join(screens[i], "\n"), strings.Join(all, "\n"))
		}
	}
}

// TestRing: a chat on each of three daemons; everyone's lines in the same order on
// every screen; a newcomer gets the history; a daemon killed with SIGKILL shows as its
// chatter leaving with "node-down" on the others' screens, and that chat exits 1.
func TestRing(t *testing.T) {
	bin := binaries(t)
	ring := ringtest.Start(t, bin, 3)
	nicks := []string{"alice", "bob", "carol"}
	ps := make([]*chatExe, 3)
	for i, nd := range ring.Nodes {
		ps[i] = startChatExe(t, bin, nd, nicks[i])
	}
	for _, p := range ps {
		p.waitFor("--- end of history ---")
		for i, n := range nicks {
			p.waitFor(fmt.Sprintf("* %s joined (node %d)", n, i+1))
		}
	}
	const perMember = 20
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() {
			for i := range perMember {
				io.WriteString(p.Stdin, fmt.Sprintf("%s %d\n", p.nick, i))
			}
		})
	}
	wg.Wait()
	for _, p := range ps {
		for _, n := range nicks {
			p.waitFor(fmt.Sprintf("<%s> %s %d", n, n, perMember-1))
		}
	}
	sameScreens(t, ps...)
	for _, p := range ps {
		if n := count(p.events(), func(l string) bool { return strings.HasPrefix(l, "<") }); n != perMember*len(ps) {
			t.Errorf("%s shows %d messages, want %d", p.nick, n, perMember*len(ps))
		}
	}

	// A newcomer on node 2 gets the last 10 lines as of its join.
	before := ps[0].events()
	dave := startChatExe(t, bin, ring.Node(2), "dave", "--history", "10")
	dave.waitFor("--- end of history ---")
	for _, p := range ps {
		p.waitFor("* dave joined (node 2)")
	}
	want := append([]string{"--- history (10 messages) ---"}, before[len(before)-10:]...)
	want = append(want, "--- end of history ---", "* dave joined (node 2)")
	if got := dave.Lines(); !slices.Equal(got, want) {
		t.Errorf("dave's screen\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	io.WriteString(dave.Stdin, "hi all\n")
	for _, p := range append(ps, dave) {
		p.waitFor("<dave> hi all")
	}
	sameScreens(t, append(ps, dave)...)

	// Node 3's daemon dies: carol's chat loses it, the others see her node go.
	if err := ring.Kill(ring.Node(3)); err != nil {
		t.Fatal(err)
	}
	if !ps[2].WaitExit(e2eTimeout) {
		t.Fatal("carol's chat still runs after her daemon died")
	}
	if code := exitStatus(ps[2].Err()); code != 1 || !strings.Contains(ps[2].Stderr(), "lost the connection to the daemon") {
		t.Errorf("carol's chat: exit %d, stderr %q; want 1 and the reason", code, ps[2].Stderr())
	}
	alive := []*chatExe{ps[0], ps[1], dave}
	for _, p := range alive {
		p.waitFor("* carol left (node-down)")
	}
	io.WriteString(ps[0].Stdin, "carol is gone\n")
	for _, p := range alive {
		p.waitFor("<alice> carol is gone")
	}
	sameScreens(t, alive...)

	// /quit leaves gracefully.
	io.WriteString(ps[1].Stdin, "/quit\n")
	if !ps[1].WaitExit(e2eTimeout) || ps[1].Err() != nil {
		t.Errorf("bob's chat after /quit: %v", ps[1].Err())
	}
	for _, p := range []*chatExe{ps[0], dave} {
		p.waitFor("* bob left (leave)")
	}
}

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
