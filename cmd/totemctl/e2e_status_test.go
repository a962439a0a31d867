package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// statusRow matches node id's row of the status table: its address, its state and
// its last heard column.
func statusRow(id int, addr, state, heard string) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`(?m)^%d +%s +%s +%s$`, id, regexp.QuoteMeta(addr), state, heard))
}

const heardAgo = `[0-9]+\.[0-9]s ago`

// pollStatus runs totemctl status on d until its table matches every pattern, for at
// most ringTimeout, and returns that table.
func pollStatus(t *testing.T, d *testDaemon, patterns ...*regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(ringTimeout)
	for {
		out, stderr, err := ctl(t, d, "status")
		ok := err == nil
		for _, p := range patterns {
			ok = ok && p.MatchString(out)
		}
		if ok {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("status on node %d never matched %v:\n%s(%v, %s)", d.ID, patterns, out, err, stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A three-node udpu ring with node 3 configured but not started: node 1 shows it
// missing and never heard, then a member heard a moment ago once it has started.
func TestStatusMissingThenMember(t *testing.T) {
	c := newPartialCluster(t, 3, 2)
	n1, n2, n3 := c.node(1), c.node(2), c.node(3)
	out := pollStatus(t, n1,
		statusRow(1, n1.Addr, "member", `\(this node\)`),
		statusRow(2, n2.Addr, "member", heardAgo),
		statusRow(3, n3.Addr, "missing", "never"))
	t.Logf("node 3 not started:\n%s", out)
	for _, want := range []string{"\ntransport       udpu\n", "\nkey             none: unauthenticated", "\ntimers          token 300ms, "} {
		if !strings.Contains(out, want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
	st := statusJSONOf(t, n1)
	if len(st.Nodes) != 3 || st.Nodes[2].State != "missing" || st.Nodes[2].HeardAgoUS != nil || !st.Nodes[0].Self {
		t.Errorf("status --json nodes %+v, want 1 (self), 2, and 3 missing, never heard", st.Nodes)
	}

	c.start(n3)
	c.waitRing(c.nodes...)
	out = pollStatus(t, n1, statusRow(3, n3.Addr, "member", heardAgo))
	t.Logf("node 3 started:\n%s", out)
	st = statusJSONOf(t, n1)
	if len(st.Nodes) != 3 || st.Nodes[2].State != "member" || st.Nodes[2].HeardAgoUS == nil {
		t.Errorf("status --json nodes %+v, want node 3 a member, heard", st.Nodes)
	}
}

// statusNodes is the part of status --json a test reads back.
type statusNodes struct {
	Nodes []struct {
		NodeID     int     `json:"node_id"`
		Address    *string `json:"address"`
		State      string  `json:"state"`
		Self       bool    `json:"self"`
		Configured bool    `json:"configured"`
		HeardAgoUS *int64  `json:"heard_ago_us"`
	} `json:"nodes"`
}

func statusJSONOf(t *testing.T, d *testDaemon) statusNodes {
	t.Helper()
	out, stderr, err := ctl(t, d, "status", "--json")
	var st statusNodes
	if err == nil {
		err = json.Unmarshal([]byte(out), &st)
	}
	if err != nil {
		t.Fatalf("status --json on node %d: %q (%v, %s)", d.ID, out, err, stderr)
	}
	return st
}

// watch --count 2 prints two snapshots of the table, separated by an empty line and
// without escape sequences (its output is not a terminal), then exits 0.
func TestWatchCount(t *testing.T) {
	c := newTestCluster(t, 2)
	out, stderr, err := ctl(t, c.node(1), "watch", "--count", "2", "--interval", "100ms")
	if err != nil {
		t.Fatalf("watch: %v, %s", err, stderr)
	}
	if n := strings.Count(out, "totemctl watch: "); n != 2 {
		t.Errorf("watch --count 2 printed %d snapshots:\n%s", n, out)
	}
	if n := strings.Count(out, "\nNODE  ADDRESS"); n != 2 {
		t.Errorf("watch --count 2 printed %d node tables:\n%s", n, out)
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("watch wrote escape sequences to a pipe: %q", out)
	}
	if !strings.Contains(out, "duplicate node id  0\n\ntotemctl watch: ") {
		t.Errorf("snapshots not separated by an empty line:\n%s", out)
	}
}
