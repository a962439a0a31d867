package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/totem-gcs/totem/demo/localring"
	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/client"
	"github.com/totem-gcs/totem/totem/ipc/ipctest"
)

// These tests run totemload in this process against an in-process daemon (one node):
// the protocol of the run, the exit statuses and the RESULT line. The multi-node runs
// with real daemons are in e2e_test.go.

const testTimeout = 20 * time.Second

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer = localring.Buffer

type loadRun struct {
	stdout, stderr string
	code           int
}

// startLoad runs totemload with args in this process; sigs stands for its signals.
func startLoad(t *testing.T, sigs chan os.Signal, args ...string) <-chan loadRun {
	t.Helper()
	done := make(chan loadRun, 1)
	go func() {
		var out, errOut syncBuffer
		code := run(args, func(string) string { return "" }, &out, &errOut, sigs)
		done <- loadRun{out.String(), errOut.String(), code}
	}()
	return done
}

func waitLoad(t *testing.T, done <-chan loadRun) loadRun {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(testTimeout):
		t.Fatal("totemload did not return")
		return loadRun{}
	}
}

func runLoad(t *testing.T, args ...string) loadRun {
	t.Helper()
	return waitLoad(t, startLoad(t, nil, args...))
}

// wantComplete checks a run that must have completed, and returns its RESULT.
func wantComplete(t *testing.T, r loadRun) map[string]string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	kv := parseResult(t, r.stdout)
	for k, v := range map[string]string{"complete": "1", "order_errors": "0", "size_errors": "0", "member_left": "0"} {
		if kv[k] != v {
			t.Errorf("%s=%s, want %s: %s", k, kv[k], v, r.stdout)
		}
	}
	if kv["delivered"] != kv["expected"] {
		t.Errorf("delivered=%s expected=%s: %s", kv["delivered"], kv["expected"], r.stdout)
	}
	return kv
}

// testClient is a plain client of the daemon in the load's group.
func testClient(t *testing.T, d *ipctest.Daemon, group string) *client.Client {
	t.Helper()
	cl := testClientEvents(t, d, group)
	go func() { // keep reading
		for range cl.Events() {
		}
	}()
	return cl
}

// waitMembers waits until group has n members at the daemon.
func waitMembers(t *testing.T, d *ipctest.Daemon, group string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	cl, err := client.Dial(ctx, d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	go func() {
		for range cl.Events() {
		}
	}()
	for {
		ms, err := cl.Members(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) >= n {
			return
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("group %q never had %d members", group, n)
		}
	}
}

func TestOneNodeTput(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	logPath := filepath.Join(t.TempDir(), "deliveries")
	kv := wantComplete(t, runLoad(t, "-socket", d.Socket, "-m", "tput", "-i", "1", "-n", "1", "-c", "3000", "-s", "200",
		"-R", "5", "-L", "test", "-T", "15", "-l", logPath))
	for k, v := range map[string]string{"sys": "test", "mode": "tput", "node": "1", "nodeid": "1", "n": "1", "senders": "1",
		"size": "200", "run": "5", "sent": "3000", "delivered": "3000", "expected": "3000", "bytes": "600000", "foreign": "0"} {
		if kv[k] != v {
			t.Errorf("%s=%s, want %s", k, kv[k], v)
		}
	}
	t0, _ := strconv.ParseUint(kv["t0_ns"], 10, 64)
	tfirst, _ := strconv.ParseUint(kv["tfirst_ns"], 10, 64)
	tlast, _ := strconv.ParseUint(kv["tlast_ns"], 10, 64)
	if !(0 < t0 && t0 <= tfirst && tfirst <= tlast) {
		t.Errorf("times t0 %d first %d last %d out of order", t0, tfirst, tlast)
	}
	// The log holds every delivery, in order; its digest is the RESULT's.
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 3001 || lines[0] != "1 1 1 0" || lines[2999] != "1 1 1 2999" || lines[3000] != "1 1 2 3000" {
		t.Fatalf("log: %d lines, %q ... %q", len(lines), lines[0], lines[len(lines)-1])
	}
	if got := logDigest(t, lines); got != kv["digest"] {
		t.Errorf("digest of the log %s, RESULT digest=%s", got, kv["digest"])
	}
}

// logDigest recomputes the digest from a delivery log.
func logDigest(t *testing.T, lines []string) string {
	t.Helper()
	d := uint64(fnvOffset)
	for _, l := range lines {
		var v [4]uint64
		f := strings.Fields(l)
		if len(f) != 4 {
			t.Fatalf("log line %q", l)
		}
		for i := range v {
			var err error
			if v[i], err = strconv.ParseUint(f[i], 10, 64); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
		}
		d = digestRecord(d, uint32(v[0]), uint16(v[1]), uint16(v[2]), v[3])
	}
	return fmt.Sprintf("%016x", d)
}

// TestSharedDaemon: three instances, all senders, on one daemon: the same digest and
// counts everywhere (the daemon's own order, seen by three sessions).
func TestSharedDaemon(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	var runs []<-chan loadRun
	for i := 1; i <= 3; i++ {
		runs = append(runs, startLoad(t, nil, "-socket", d.Socket, "-m", "tput", "-i", strconv.Itoa(i), "-n", "3",
			"-c", "1000", "-s", "64", "-T", "15", "-w", "10"))
	}
	var digest string
	for i, done := range runs {
		kv := wantComplete(t, waitLoad(t, done))
		if kv["expected"] != "3000" || kv["sent"] != "1000" || kv["node"] != strconv.Itoa(i+1) {
			t.Errorf("node %d: expected=%s sent=%s node=%s", i+1, kv["expected"], kv["sent"], kv["node"])
		}
		if i == 0 {
			digest = kv["digest"]
		} else if kv["digest"] != digest {
			t.Errorf("node %d: digest %s, node 1 %s", i+1, kv["digest"], digest)
		}
	}
}

func TestOneNodeLat(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	kv := wantComplete(t, runLoad(t, "-socket", d.Socket, "-m", "lat", "-i", "1", "-n", "1", "-r", "400", "-d", "0.5", "-T", "15"))
	for k, v := range map[string]string{"mode": "lat", "sent": "200", "delivered": "200", "lat_n": "200", "rate": "400.0"} {
		if kv[k] != v {
			t.Errorf("%s=%s, want %s", k, kv[k], v)
		}
	}
	var lat []float64
	for _, k := range []string{"lat_p50_us", "lat_p90_us", "lat_p99_us", "lat_max_us"} {
		v, err := strconv.ParseFloat(kv[k], 64)
		if err != nil || v <= 0 {
			t.Errorf("%s=%s", k, kv[k])
		}
		lat = append(lat, v)
	}
	for i := 1; i < len(lat); i++ {
		if lat[i] < lat[i-1] {
			t.Errorf("percentiles not ascending: %v", lat)
		}
	}
}

// TestForeignAndEnd: another program in the group sends messages that are not the
// run's, then, as sender 2, the run's END: they count as foreign, the END ends the run.
func TestForeignAndEnd(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	other := testClient(t, d, "bench")
	done := startLoad(t, nil, "-socket", d.Socket, "-m", "tput", "-i", "1", "-n", "2", "-c", "100", "-s", "40", "-R", "3", "-T", "15")
	waitMembers(t, d, "bench", 2)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	for _, m := range [][]byte{[]byte("hello"), data(4, 2, 0, 40), end(3, 2, 0)} {
		if err := other.Multicast(ctx, "bench", m, client.Agreed); err != nil {
			t.Fatal(err)
		}
	}
	kv := wantComplete(t, waitLoad(t, done))
	if kv["foreign"] != "2" || kv["expected"] != "100" || kv["senders"] != "2" {
		t.Errorf("foreign=%s expected=%s senders=%s, want 2 100 2", kv["foreign"], kv["expected"], kv["senders"])
	}
}

// TestMemberLeft: a sender leaves without its END: member_left=1, and the run ends at
// the hard bound, incomplete.
func TestMemberLeft(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	other := testClient(t, d, "bench")
	done := startLoad(t, nil, "-socket", d.Socket, "-m", "tput", "-i", "1", "-n", "2", "-c", "10", "-T", "1")
	waitMembers(t, d, "bench", 2)
	other.Close()
	r := waitLoad(t, done)
	kv := parseResult(t, r.stdout)
	if r.code != 1 || kv["member_left"] != "1" || kv["complete"] != "0" || kv["why"] != "hard_timeout" || kv["expected"] != "10" {
		t.Errorf("exit %d: %s", r.code, r.stdout)
	}
}

func TestJoinTimeout(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	r := runLoad(t, "-socket", d.Socket, "-m", "tput", "-i", "1", "-n", "2", "-w", "0.2")
	kv := parseResult(t, r.stdout)
	if r.code != 2 || kv["why"] != "join_timeout" || kv["complete"] != "0" || kv["t0_ns"] != "0" || kv["nodeid"] != "1" {
		t.Errorf("exit %d: %s", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "only 1 of 2 members joined") {
		t.Errorf("stderr %q", r.stderr)
	}
}

// TestSignal: SIGINT or SIGTERM during the run ends it with why=signal.
func TestSignal(t *testing.T) {
	d := ipctest.StartOperational(t, ipctest.Options{})
	other := testClientEvents(t, d, "bench")
	sigs := make(chan os.Signal, 1)
	done := startLoad(t, sigs, "-socket", d.Socket, "-m", "lat", "-i", "1", "-n", "2", "-k", "1", "-r", "100", "-d", "60", "-T", "120")
	// The load's first message: its barrier is behind it.
	waitMessage(t, other)
	sigs <- os.Interrupt
	r := waitLoad(t, done)
	kv := parseResult(t, r.stdout)
	if r.code != 1 || kv["why"] != "signal" || kv["complete"] != "0" {
		t.Errorf("exit %d: %s", r.code, r.stdout)
	}
}

// testClientEvents is a plain client of the daemon in group, whose events the test
// reads.
func testClientEvents(t *testing.T, d *ipctest.Daemon, group string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	cl, err := client.Dial(ctx, d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if err := cl.Join(ctx, group); err != nil {
		t.Fatal(err)
	}
	return cl
}

func waitMessage(t *testing.T, cl *client.Client) {
	t.Helper()
	timeout := time.After(testTimeout)
	for {
		select {
		case ev, ok := <-cl.Events():
			if !ok {
				t.Fatalf("connection lost: %v", cl.Err())
			}
			if _, isMsg := ev.(client.Message); isMsg {
				go func() { // keep reading
					for range cl.Events() {
					}
				}()
				return
			}
		case <-timeout:
			t.Fatal("no message")
		}
	}
}

// TestSendError: the daemon refuses the messages (larger than its limit): the run ends
// with why=send_error.
func TestSendError(t *testing.T) {
	d := ipctest.Start(t, ipctest.Options{Config: func(c *totem.Config) { c.MaxMessageSize = 100 }})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	if err := d.WaitOperational(ctx); err != nil {
		t.Fatal(err)
	}
	r := runLoad(t, "-socket", d.Socket, "-m", "tput", "-i", "1", "-n", "1", "-s", "101", "-T", "15")
	kv := parseResult(t, r.stdout)
	if r.code != 1 || kv["why"] != "send_error" || kv["complete"] != "0" || kv["sent"] != "0" {
		t.Errorf("exit %d: %s", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "too large") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestSetupErrors(t *testing.T) {
	defer func(b time.Duration) { dialBudget = b }(dialBudget)
	dialBudget = 300 * time.Millisecond
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"usage", []string{"-m", "tput"}},
		{"no daemon", []string{"-socket", filepath.Join(t.TempDir(), "none.sock"), "-m", "tput", "-i", "1", "-n", "1"}},
		{"log not writable", []string{"-l", filepath.Join(t.TempDir(), "no", "such", "dir"), "-m", "tput", "-i", "1", "-n", "1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runLoad(t, tt.args...)
			if r.code != 2 || r.stdout != "" || r.stderr == "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, a reason", r.code, r.stdout, r.stderr)
			}
		})
	}
}
