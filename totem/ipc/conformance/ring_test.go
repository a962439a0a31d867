package conformance

import (
	"fmt"
	"slices"
	"testing"

	"github.com/totem-gcs/totem/multicast/wire"
)

// joinAll connects a client to each node of r, joins group on each, and reads until
// every client has seen the view with all of them.
func joinAll(t *testing.T, r *ring, group string) []*client {
	t.Helper()
	var cs []*client
	var seen []int // members of each one's join view
	for i, sock := range r.sockets {
		c, _ := hello(t, sock, fmt.Sprintf("c%d", i+1))
		seen = append(seen, len(c.join(group).list("members")))
		cs = append(cs, c)
	}
	for i, c := range cs {
		if seen[i] < len(cs) {
			viewWith(t, c, len(cs))
		}
	}
	return cs
}

// viewWith reads c's events until a view of n members (it may be the last one kept).
func viewWith(t *testing.T, c *client, n int) frame {
	t.Helper()
	for range 100 {
		if v := c.event(); v.typ() == "view" && len(v.list("members")) == n {
			return v
		}
	}
	t.Fatalf("no view of %d members", n)
	return nil
}

// §12, §7: three nodes; every member receives the same messages in the same order,
// each sender's in the order it sent them.
func TestThreeNodeOrder(t *testing.T) {
	r := startRing(t, 3)
	cs := joinAll(t, r, "g")
	for _, c := range cs {
		c.kept = nil // views up to the full one are behind us
	}
	const each = 40
	for i, c := range cs {
		var b []byte
		for k := range each {
			b = append(b, withLength(pack(t, m{"type": "multicast", "id": k + 1, "group": "g", "data": []byte(fmt.Sprintf("%d/%d", i+1, k))}))...)
		}
		c.write(b)
	}
	var orders [][]string
	for i, c := range cs {
		var order []string
		oks := 0
		for len(order) < each*len(cs) || oks < each {
			f := c.next()
			switch f.typ() {
			case "ok":
				oks++
			case "message":
				order = append(order, string(f.data()))
			default:
				t.Fatalf("client %d: got %v", i+1, f)
			}
		}
		orders = append(orders, order)
	}
	for i := 1; i < len(orders); i++ {
		if !slices.Equal(orders[i], orders[0]) {
			t.Fatalf("client %d's order differs from client 1's:\n%v\n%v", i+1, orders[i], orders[0])
		}
	}
	next := map[string]int{}
	for _, s := range orders[0] {
		var node, k int
		fmt.Sscanf(s, "%d/%d", &node, &k)
		if k != next[fmt.Sprint(node)] {
			t.Fatalf("sender %d's message %d delivered out of its order", node, k)
		}
		next[fmt.Sprint(node)]++
	}
}

// §7.2: a merge of three singleton rings gives every member one view per group for
// the whole merge (not one per returning node), listing the other nodes' members with
// reason node-up, and a failure one view listing those that left with node-down.
func TestMergeOneViewPerGroup(t *testing.T) {
	r := startRing(t, 3)
	cs := joinAll(t, r, "g")
	for _, c := range cs {
		c.kept = nil
	}
	r.net.Partition([]wire.NodeID{1}, []wire.NodeID{2}, []wire.NodeID{3})
	r.wait(t, []wire.NodeID{1}, []wire.NodeID{2}, []wire.NodeID{3})
	for i, c := range cs {
		v := c.event()
		l := v.list("left")
		if v.typ() != "view" || len(v.list("members")) != 1 || len(l) != 2 || l[0].str("reason") != "node-down" || l[1].str("reason") != "node-down" {
			t.Fatalf("client %d: after the partition got %v, want one view with two node-down", i+1, v)
		}
	}
	r.net.Heal()
	r.wait(t, []wire.NodeID{1, 2, 3})
	for i, c := range cs {
		v := c.event()
		j := v.list("joined")
		if v.typ() != "view" || len(v.list("members")) != 3 || len(j) != 2 || j[0].str("reason") != "node-up" || j[1].str("reason") != "node-up" {
			t.Fatalf("client %d: after the merge got %v, want one view with two node-up", i+1, v)
		}
	}
	// Nothing else came: the next event of each is a message sent now.
	if f := cs[0].call(m{"type": "multicast", "group": "g", "data": []byte("after")}); f.typ() != "ok" {
		t.Fatal(f)
	}
	for i, c := range cs {
		if ev := c.event(); ev.typ() != "message" || string(ev.data()) != "after" {
			t.Fatalf("client %d: got %v after the merge view, want the message", i+1, ev)
		}
	}
}
