package main

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/totem-gcs/totem/rsm"
)

func TestCounterStateMachine(t *testing.T) {
	c := newCounter()
	for _, step := range []struct{ cmd, want string }{
		{"add 5", "5"},
		{"add -7", "-2"},
		{"add x", `error: bad number "x"`},
		{"mul 2", `error: unknown command "mul"`},
		{"", `error: unknown command ""`},
		{"add 9223372036854775807", "9223372036854775805"},
		{"add 3", "error: the counter would overflow"},
		{"add 2", "9223372036854775807"},
	} {
		if got := string(c.Apply([]byte(step.cmd))); got != step.want {
			t.Errorf("Apply(%q) = %q, want %q", step.cmd, got, step.want)
		}
	}
	c = newCounter()
	c.Apply(addCommand(math.MinInt64))
	if got := string(c.Apply([]byte("add -1"))); got != "error: the counter would overflow" {
		t.Errorf("below MinInt64: %q", got)
	}
	if got := string(c.Query(getQuery)); got != "-9223372036854775808" {
		t.Errorf("Query(get) = %q", got)
	}
	if got := string(c.Query([]byte("peek"))); !strings.HasPrefix(got, "error: ") {
		t.Errorf("Query(peek) = %q, want an error", got)
	}
}

func TestCounterSnapshotRoundTrip(t *testing.T) {
	a, b := newCounter(), newCounter()
	a.Apply(addCommand(-42))
	var buf bytes.Buffer
	if err := a.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if b.value.Load() != -42 {
		t.Fatalf("restored %d, want -42", b.value.Load())
	}
	if err := b.Restore(strings.NewReader("forty-two")); err == nil {
		t.Fatal("a corrupt snapshot was accepted")
	}
}

func TestParseOp(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want op
		err  bool
	}{
		{"inc", op{n: 1}, false},
		{"dec", op{n: -1}, false},
		{"add -12", op{n: -12}, false},
		{"get", op{read: true}, false},
		{"add", op{}, true},
		{"add 1 2", op{}, true},
		{"add 1.5", op{}, true},
		{"inc 3", op{}, true},
		{"reset", op{}, true},
		{"", op{}, true},
	} {
		got, err := parseOp(strings.Fields(tc.in))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseOp(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestStatusLine(t *testing.T) {
	ms := []rsm.Member{{Node: 1, Session: 2}, {Node: 3, Session: 1}}
	for _, tc := range []struct {
		st   rsm.Status
		want string
	}{
		{rsm.Status{}, "value 7 | replicas none (0 of 3) | starting"},
		{rsm.Status{HaveView: true, Members: ms, Quorum: true, Synced: true, Ready: true}, "value 7 | replicas 1/2 3/1 (2 of 3) | serving"},
		{rsm.Status{HaveView: true, Members: ms[:1]}, "value 7 | replicas 1/2 (1 of 3) | no quorum: a majority of 3 is 2"},
		{rsm.Status{HaveView: true, Members: ms, Quorum: true}, "value 7 | replicas 1/2 3/1 (2 of 3) | catching up"},
		{rsm.Status{HaveView: true, Members: ms, Quorum: true, Synced: true}, "value 7 | replicas 1/2 3/1 (2 of 3) | waiting for the replicas to agree"},
	} {
		if got := statusLine(tc.st, 7, 3); got != tc.want {
			t.Errorf("statusLine(%+v) =\n  %q, want\n  %q", tc.st, got, tc.want)
		}
	}
	if got := statusLine(rsm.Status{HaveView: true, Members: append(ms, rsm.Member{Node: 4}, rsm.Member{Node: 5})}, 0, 3); !strings.HasSuffix(got, "no quorum: more replicas than the 3 expected") {
		t.Errorf("too many replicas: %q", got)
	}
}

// Usage errors exit 2 before touching a daemon; a missing daemon exits 1 and says
// where it looked.
func TestUsageAndNoDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{}, 2, "a command is required"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"add"}, 2, "add takes one number"},
		{[]string{"add", "x"}, 2, "not a whole number"},
		{[]string{"add", "--help"}, 0, "add N (negative to subtract)"},
		{[]string{"inc", "-h"}, 0, "add 1 and print the new value"},
		{[]string{"inc", "2"}, 2, "takes no arguments"},
		{[]string{"replica", "extra"}, 2, "takes no arguments"},
		{[]string{"replica", "--replicas", "0"}, 2, "at least 1"},
		{[]string{"replica", "--log-level", "loud"}, 2, "--log-level"},
		{[]string{"add", "-5"}, 1, "is totemd running"},
		{[]string{"get"}, 1, "is totemd running"},
		{[]string{"replica"}, 1, "is totemd running"},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"counter", "--socket", sock}, tc.args...)
		if tc.code == 0 { // help: on standard output
			code := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
			if code != 0 || !strings.Contains(out.String(), tc.msg) {
				t.Errorf("counter %s: exit %d, stdout %q, stderr %q; want 0 and %q", strings.Join(tc.args, " "), code, out.String(), errOut.String(), tc.msg)
			}
			continue
		}
		code := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
		if code != tc.code || !strings.Contains(errOut.String(), tc.msg) {
			t.Errorf("counter %s: exit %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), code, errOut.String(), tc.code, tc.msg)
		}
	}
}
