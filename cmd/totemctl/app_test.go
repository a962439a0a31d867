package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/totem-gcs/totem/internal/cliutil"
	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/client"
	"github.com/totem-gcs/totem/totem/ipc/ipctest"
)

// These tests run the app in this process, against an in-process daemon where one is
// needed: exit statuses, usage errors and exact output formats.

const appTimeout = 20 * time.Second

// runApp runs totemctl with args and stdin and returns its output and exit status.
func runApp(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut syncBuffer
	code = runAppTo(t, &out, &errOut, stdin, args...)
	return out.String(), errOut.String(), code
}

func runAppTo(t *testing.T, out, errOut *syncBuffer, stdin string, args ...string) int {
	ctx, cancel := context.WithTimeout(t.Context(), appTimeout)
	defer cancel()
	app := newApp()
	app.Writer, app.ErrWriter, app.Reader = out, errOut, strings.NewReader(stdin)
	return cliutil.ExitCode(errOut, "totemctl", app.RunContext(ctx, append([]string{"totemctl"}, args...)))
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"unknown command", []string{"bogus"}},
		{"unknown flag", []string{"status", "--bogus"}},
		{"status with an argument", []string{"status", "extra"}},
		{"send without group", []string{"send", "hi"}},
		{"listen without group", []string{"listen"}},
		{"listen count 0", []string{"listen", "--group", "g", "--count", "0"}},
		{"listen negative timeout", []string{"listen", "--group", "g", "--timeout", "-1s"}},
		{"bench size too small", []string{"bench", "--size", "3"}},
		{"bench count 0", []string{"bench", "--count", "0"}},
		{"bench no duration", []string{"bench", "--duration", "0s"}},
		{"bench window 0", []string{"bench", "--window", "0"}},
		{"bench window too large", []string{"bench", "--window", "4097"}},
		{"bad duration", []string{"listen", "--group", "g", "--timeout", "soon"}},
		{"watch interval 0", []string{"watch", "--interval", "0s"}},
		{"watch negative count", []string{"watch", "--count", "-1"}},
		{"watch with an argument", []string{"watch", "extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A socket that does not exist: usage errors come before any connection.
			args := append([]string{"--socket", "/nonexistent/totemd.sock"}, tt.args...)
			_, stderr, code := runApp(t, "", args...)
			if code != 2 || !strings.HasPrefix(stderr, "totemctl: ") {
				t.Errorf("exit %d, stderr %q; want 2 and a totemctl: message", code, stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	stdout, _, code := runApp(t, "", "--version")
	if code != 0 || !strings.HasPrefix(stdout, "totemctl version ") || !strings.Contains(stdout, "go1.") {
		t.Fatalf("exit %d, stdout %q; want the version with the Go version", code, stdout)
	}
}

func TestNoDaemon(t *testing.T) {
	_, stderr, code := runApp(t, "", "--socket", "/nonexistent/totemd.sock", "status")
	if code != 1 || !strings.HasPrefix(stderr, "totemctl: ") || !strings.Contains(stderr, "is totemd running?") {
		t.Errorf("exit %d, stderr %q; want 1 and a hint", code, stderr)
	}
}

func TestSocketFromEnvironment(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	t.Setenv("TOTEM_SOCKET", d.Socket)
	out, stderr, code := runApp(t, "", "status", "--json")
	var st statusJSON
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.NodeID != 1 || st.State != "operational" {
		t.Errorf("status --json: exit %d, %q, %q", code, out, stderr)
	}
}

// TestListenJSONLines checks listen --json byte for byte, through the life of two
// senders.
func TestListenJSONLines(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runAppTo(t, &out, &errOut, "", "--socket", d.Socket, "listen", "--group", "g", "--json", "--count", "2", "--timeout", "15s")
	}()
	waitMembers(t, d, "g", 1)
	for _, args := range [][]string{{"one"}, {"--safe", "two"}} {
		if _, stderr, code := runApp(t, "", append([]string{"--socket", d.Socket, "send", "--group", "g"}, args...)...); code != 0 {
			t.Fatalf("send %v: exit %d: %s", args, code, stderr)
		}
	}
	if code := <-done; code != 0 {
		t.Fatalf("listen: exit %d: %s", code, errOut.String())
	}
	p := os.Getpid()
	m := fmt.Sprintf(`{"node":1,"pid":%d}`, p)
	ch := func(reason string) string { return fmt.Sprintf(`{"node":1,"pid":%d,"reason":"%s"}`, p, reason) }
	want := []string{
		`{"type":"view","group":"g","members":[` + m + `],"joined":[` + ch("join") + `],"left":[]}`,
		`{"type":"view","group":"g","members":[` + m + `,` + m + `],"joined":[` + ch("join") + `],"left":[]}`,
		`{"type":"message","group":"g","sender":` + m + `,"safe":false,"data":"one"}`,
		`{"type":"view","group":"g","members":[` + m + `],"joined":[],"left":[` + ch("leave") + `]}`,
		`{"type":"view","group":"g","members":[` + m + `,` + m + `],"joined":[` + ch("join") + `],"left":[]}`,
		`{"type":"message","group":"g","sender":` + m + `,"safe":true,"data":"two"}`,
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("listen --json printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// waitMembers waits until group has n members on d.
func waitMembers(t *testing.T, d *ipctest.Daemon, group string, n int) {
	t.Helper()
	deadline := time.Now().Add(appTimeout)
	for len(d.Node.Status().Groups[group]) != n {
		if time.Now().After(deadline) {
			t.Fatalf("group %s never had %d members", group, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestListenTimeout(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	out, stderr, code := runApp(t, "", "--socket", d.Socket, "listen", "--group", "g", "--timeout", "200ms")
	if code != 0 || !strings.HasPrefix(out, "view g: 1 members 1/") {
		t.Errorf("open-ended listen at its timeout: exit %d, %q, %q; want 0 and the view", code, out, stderr)
	}
	_, stderr, code = runApp(t, "", "--socket", d.Socket, "listen", "--group", "g", "--count", "1", "--timeout", "200ms")
	if code != 1 || !strings.Contains(stderr, "0 of 1 messages before the timeout") {
		t.Errorf("listen --count 1 at its timeout: exit %d, %q; want 1", code, stderr)
	}
}

func TestSendLines(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{Config: func(c *totem.Config) { c.MaxMessageSize = 64 }})
	cl, err := client.Dial(t.Context(), d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Join(t.Context(), "g"); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runApp(t, "a\n\nc\r\n", "--socket", d.Socket, "send", "--group", "g"); code != 0 {
		t.Fatalf("send: exit %d: %s", code, stderr)
	}
	var got []string
	for len(got) < 3 {
		select {
		case ev := <-cl.Events():
			if m, ok := ev.(client.Message); ok {
				got = append(got, string(m.Data))
			}
		case <-time.After(appTimeout):
			t.Fatalf("got %q", got)
		}
	}
	if strings.Join(got, "|") != "a||c" {
		t.Errorf("sent %q, want a, an empty message, c", got)
	}
	_, stderr, code := runApp(t, "ok\n"+strings.Repeat("x", 100)+"\n", "--socket", d.Socket, "send", "--group", "g")
	if code != 1 || !strings.Contains(stderr, "line 2: longer than the daemon's largest message (64 bytes)") {
		t.Errorf("send of a long line: exit %d, %q", code, stderr)
	}
}

func TestGroupsAndMembersText(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	out, _, code := runApp(t, "", "--socket", d.Socket, "groups")
	if code != 0 || out != "GROUP  MEMBERS\n" {
		t.Errorf("groups with none: exit %d, %q", code, out)
	}
	out, _, code = runApp(t, "", "--socket", d.Socket, "groups", "--json")
	if code != 0 || out != "[]\n" {
		t.Errorf("groups --json with none: exit %d, %q", code, out)
	}
	out, _, code = runApp(t, "", "--socket", d.Socket, "members", "--json")
	if code != 0 || out != "[]\n" {
		t.Errorf("members --json with none: exit %d, %q", code, out)
	}
}

func TestBenchInProcess(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	// A window of 1 waits for each answer; the default keeps 64 in flight; a window
	// larger than the count must not wait for answers that never come.
	for _, window := range []string{"1", "64", "1000"} {
		t.Run("window "+window, func(t *testing.T) {
			out, stderr, code := runApp(t, "", "--socket", d.Socket, "bench", "--count", "300", "--size", "100",
				"--duration", "10s", "--window", window, "--json")
			var res benchResult
			if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
				t.Fatalf("bench: exit %d, %q, %q", code, out, stderr)
			}
			if res.Sent != 300 || res.Delivered != 300 || res.Errors != 0 || res.MsgsPerSec <= 0 || res.P99ms < res.P50ms {
				t.Errorf("bench result %+v", res)
			}
		})
	}
}

func TestBenchStats(t *testing.T) {
	self := client.Info{NodeID: 1, Session: 1}
	msg := func(node client.NodeID, session uint32, seq uint64) client.Message {
		b := make([]byte, 40)
		fillBench(b, seq, time.Millisecond)
		return client.Message{Sender: client.Member{Node: node, Session: session}, Data: b}
	}
	corrupt := msg(2, 1, 1)
	corrupt.Data[30]++
	tests := []struct {
		name string
		msgs []client.Message
		errs int
	}{
		{"in order", []client.Message{msg(1, 1, 0), msg(2, 1, 7), msg(1, 1, 1), msg(2, 1, 8)}, 0},
		{"own gap", []client.Message{msg(1, 1, 0), msg(1, 1, 2)}, 1},
		{"own not from 0", []client.Message{msg(1, 1, 1)}, 1},
		{"other reordered", []client.Message{msg(2, 1, 5), msg(2, 1, 4)}, 1},
		{"corrupted", []client.Message{msg(2, 1, 0), corrupt}, 1},
		{"foreign traffic", []client.Message{{Sender: client.Member{Node: 3}, Data: []byte("hi")}}, 0},
		{"own foreign", []client.Message{{Sender: client.Member{Node: 1, Session: 1}, Data: []byte("hi")}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newBenchStats(self)
			for _, m := range tt.msgs {
				s.add(m, 2*time.Millisecond)
			}
			if s.errs != tt.errs {
				t.Errorf("got %d errors (%s), want %d", s.errs, s.first, tt.errs)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		ds   []time.Duration
		p    int
		want time.Duration
	}{
		{nil, 50, 0},
		{ds[:1], 99, time.Millisecond},
		{ds, 50, 50 * time.Millisecond},
		{ds, 99, 99 * time.Millisecond},
		{ds, 100, 100 * time.Millisecond},
		{ds[:10], 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.ds, tt.p); got != tt.want {
			t.Errorf("p%d of %d: got %v, want %v", tt.p, len(tt.ds), got, tt.want)
		}
	}
}
