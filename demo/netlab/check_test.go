//go:build linux

package netlab_test

import (
	"fmt"
	"slices"
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
//   - two sessions that both delivered two messages delivered them in the same order;
//   - each view's joined and left lists are exactly the difference from the view before
//     it: no member appears without a join or vanishes without a leave (no ghosts);
//   - a message two sessions delivered, they delivered in the same view (the same
//     members), or one of them in the transitional view that followed the other's
//     (the view that removed the members of nodes that failed): the virtual synchrony
//     of views and messages, with EVS's transitional configurations.
//
// That nothing accepted in a steady phase is lost is checked during the run
// (load.quiesce).
func check(logs []sessionLog) []error {
	var errs []error
	orders := make([][]string, len(logs))
	viewOf := make([]map[string]deliveryView, len(logs))
	for i, l := range logs {
		seen := map[string]bool{}
		last := map[string]int{}
		viewOf[i] = map[string]deliveryView{}
		var view, before []string
		var nodeDown bool
		views := 0
		for _, e := range l.entries {
			if e.view {
				if views > 0 {
					errs = append(errs, checkViewDelta(l.name, views, view, e)...)
				}
				before, view, nodeDown, views = view, e.members, e.nodeDown, views+1
				continue
			}
			dv := deliveryView{members: strings.Join(view, " ")}
			if nodeDown {
				dv.before = strings.Join(before, " ")
			}
			viewOf[i][e.data] = dv
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
			for _, d := range orders[j] {
				if vi, both := viewOf[i][d]; both && !vi.agrees(viewOf[j][d]) {
					errs = append(errs, fmt.Errorf("%s delivered %s in view %v, %s in view %v", logs[i].name, d, vi, logs[j].name, viewOf[j][d]))
					break
				}
			}
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

// deliveryView is the view a message was delivered in: its members and, for a
// transitional view, the members of the view before it.
type deliveryView struct {
	members, before string
}

// agrees: the same view, or one is the transitional view after the other, or both are
// transitional views after the same view (the two sides of a partition, each
// delivering the old configuration's last messages after removing the other side).
func (a deliveryView) agrees(b deliveryView) bool {
	return a.members == b.members ||
		a.before != "" && (a.before == b.members || a.before == b.before) ||
		b.before != "" && b.before == a.members
}

func (a deliveryView) String() string {
	if a.before == "" {
		return "[" + a.members + "]"
	}
	return "[" + a.members + "] (transitional, after [" + a.before + "])"
}

// checkViewDelta checks view number n (counting from 0) of a session against the
// members of the view before it.
func checkViewDelta(session string, n int, before []string, v entry) []error {
	var errs []error
	joined, left := setMinus(v.members, before), setMinus(before, v.members)
	if !slices.Equal(joined, v.joined) {
		errs = append(errs, fmt.Errorf("%s view %d: members %v joined, the view says %v", session, n, joined, v.joined))
	}
	if !slices.Equal(left, v.left) {
		errs = append(errs, fmt.Errorf("%s view %d: members %v left, the view says %v", session, n, left, v.left))
	}
	return errs
}

// setMinus returns the sorted elements of a not in b.
func setMinus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func view(members, joined, left string) entry {
	return entry{view: true, members: strings.Fields(members), joined: strings.Fields(joined), left: strings.Fields(left)}
}

func nodeDown(members, left string) entry {
	e := view(members, "", left)
	e.nodeDown = true
	return e
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
		{"views that say what changed", []sessionLog{{"n1.1", []entry{
			view("1.1", "1.1", ""), view("1.1 2.1", "2.1", ""), view("2.1", "", "1.1"),
		}}}, ""},
		{"a ghost: back without a join", []sessionLog{{"n1.1", []entry{
			view("1.1 2.1", "1.1 2.1", ""), view("1.1", "", "2.1"), view("1.1 2.1", "", ""),
		}}}, "joined"},
		{"gone without a leave", []sessionLog{{"n1.1", []entry{
			view("1.1 2.1", "1.1 2.1", ""), view("1.1", "", ""),
		}}}, "left"},
		{"one message, in a view and in the transitional view after it", []sessionLog{
			{"n1.1", append([]entry{view("1.1 2.1", "1.1 2.1", "")}, msgs("n1.1#0")...)},
			{"n2.1", append([]entry{view("1.1 2.1", "1.1 2.1", ""), nodeDown("1.1", "2.1")}, msgs("n1.1#0")...)},
		}, ""},
		{"one message, in the transitional views of both sides of a partition", []sessionLog{
			{"n1.1", append([]entry{view("1.1 2.1 3.1", "1.1 2.1 3.1", ""), nodeDown("1.1 2.1", "3.1")}, msgs("n1.1#0")...)},
			{"n3.1", append([]entry{view("1.1 2.1 3.1", "1.1 2.1 3.1", ""), nodeDown("3.1", "1.1 2.1")}, msgs("n1.1#0")...)},
		}, ""},
		{"one message, two views", []sessionLog{
			{"n1.1", append([]entry{view("1.1 2.1", "1.1 2.1", "")}, msgs("n1.1#0")...)},
			{"n2.1", append([]entry{view("2.1", "2.1", "")}, msgs("n1.1#0")...)},
		}, "in view"},
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
