//go:build linux

package netlab_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// sessionLog is what one session delivered, in order.
type sessionLog struct {
	name    string
	entries []entry
}

// senderOf returns the session name a message's data starts with ("n2.1#17" -> "n2.1").
func senderOf(data string) string {
	name, _, _ := strings.Cut(data, "#")
	return name
}

func seqOf(data string) int {
	_, k, _ := strings.Cut(data, "#")
	n, err := strconv.Atoi(k)
	if err != nil {
		return -1
	}
	return n
}

// check returns every violation in the logs of the properties that hold across every
// fault (Extended Virtual Synchrony, as the delivery logs can show it):
//   - a session delivers a message at most once, and only well-formed ones;
//   - messages of one sender are delivered in the order it sent them (gaps are allowed:
//     messages sent while apart are delivered on the sender's side only);
//   - two sessions that both delivered two messages delivered them in the same order.
//
// That nothing accepted in a steady phase is lost is checked during the run
// (load.quiesce).
func check(logs []sessionLog) []error {
	var errs []error
	orders := make([][]string, len(logs))
	for i, l := range logs {
		seen := map[string]bool{}
		last := map[string]int{}
		for _, e := range l.entries {
			if e.view {
				continue
			}
			k := seqOf(e.data)
			if k < 0 || e.sender == "" {
				errs = append(errs, fmt.Errorf("%s delivered a malformed message %q", l.name, e.data))
				continue
			}
			if seen[e.data] {
				errs = append(errs, fmt.Errorf("%s delivered %s twice", l.name, e.data))
				continue
			}
			seen[e.data] = true
			if prev, ok := last[e.sender]; ok && k <= prev {
				errs = append(errs, fmt.Errorf("%s delivered %s after #%d of the same sender", l.name, e.data, prev))
			}
			last[e.sender] = k
			orders[i] = append(orders[i], e.data)
		}
	}
	for i := range logs {
		pos := make(map[string]int, len(orders[i]))
		for p, d := range orders[i] {
			pos[d] = p
		}
		for j := i + 1; j < len(logs); j++ {
			prev, prevData := -1, ""
			for _, d := range orders[j] {
				p, both := pos[d]
				if !both {
					continue
				}
				if p < prev {
					errs = append(errs, fmt.Errorf("%s and %s disagree on the order of %s and %s", logs[i].name, logs[j].name, prevData, d))
					break
				}
				prev, prevData = p, d
			}
		}
	}
	return errs
}

func msgs(data ...string) []entry {
	var es []entry
	for _, d := range data {
		es = append(es, entry{data: d, sender: senderOf(d)})
	}
	return es
}

// The checker is itself specified: each property, broken once.
func TestCheckFindsEachViolation(t *testing.T) {
	tests := []struct {
		name string
		logs []sessionLog
		want string
	}{
		{"agreeing logs with gaps", []sessionLog{
			{"n1.1", msgs("n1.1#0", "n2.1#0", "n1.1#2")},
			{"n2.1", msgs("n2.1#0", "n1.1#2", "n2.1#1")},
		}, ""},
		{"a duplicate", []sessionLog{{"n1.1", msgs("n1.1#0", "n1.1#0")}}, "twice"},
		{"a sender's order broken", []sessionLog{{"n1.1", msgs("n2.1#5", "n2.1#4")}}, "after #5"},
		{"two sessions disagree", []sessionLog{
			{"n1.1", msgs("n1.1#0", "n2.1#0")},
			{"n2.1", msgs("n2.1#0", "n1.1#0")},
		}, "disagree"},
		{"malformed", []sessionLog{{"n1.1", msgs("garbage")}}, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := check(tt.logs)
			switch {
			case tt.want == "" && len(errs) > 0:
				t.Errorf("violations %v in logs that keep every property", errs)
			case tt.want != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.want)):
				t.Errorf("violations %v, want one saying %q", errs, tt.want)
			}
		})
	}
}
