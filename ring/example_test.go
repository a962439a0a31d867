package ring_test

import (
	"fmt"
	"time"

	"github.com/totem-gcs/totem/multicast/wire"
	"github.com/totem-gcs/totem/ring"
)

// A ring of one member holds the token all the time: Start originates it, and every
// Submit is numbered and delivered at once, safe messages too (the only member has
// them all).
func Example() {
	id := wire.RingID{Rep: 1, Seq: 1}
	r, err := ring.New(ring.DefaultConfig(1), id, []wire.NodeID{1}, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	r.Start(0)
	r.Submit(0, []byte("hello"), wire.Agreed)
	r.Submit(0, []byte("world"), wire.Safe)

	for _, m := range r.Ready().Deliver {
		fmt.Printf("seq %d from %d (%v): %s\n", m.Seq, m.Origin, m.Guarantee, m.Payload)
	}
	// Output:
	// seq 1 from 1 (agreed): hello
	// seq 2 from 1 (safe): world
}

// The caller is the network: after every step it collects Ready and hands each
// multicast packet to the other members and each unicast (the token) to its addressee.
// Here two members each submit one message; the token numbers them, and both members
// deliver them in the same order. The loop ends when the ring goes quiet: after
// IdleVisits visits with nothing new the representative holds the token, and a caller
// would then Tick it at Ready's Deadline.
func Example_twoMembers() {
	id := wire.RingID{Rep: 1, Seq: 1}
	members := []wire.NodeID{1, 2}
	rings := map[wire.NodeID]*ring.Ring{}
	for _, self := range members {
		r, err := ring.New(ring.DefaultConfig(self), id, members, 0)
		if err != nil {
			fmt.Println(err)
			return
		}
		rings[self] = r
	}
	rings[2].Submit(0, []byte("from two"), wire.Agreed)
	rings[1].Submit(0, []byte("from one"), wire.Safe)
	rings[1].Start(0) // the representative (lowest id) originates the token

	delivered := map[wire.NodeID][]string{}
	now := time.Duration(0)
	for step := 0; step < 1000; step++ { // a bound, not a timer: the ring is quiet long before
		busy := false
		for _, self := range members {
			rd := rings[self].Ready()
			for _, m := range rd.Deliver {
				delivered[self] = append(delivered[self], fmt.Sprintf("%d:%s", m.Seq, m.Payload))
			}
			for _, p := range rd.Multicast {
				busy = true
				for _, to := range members {
					if to != self {
						rings[to].StepMcast(now, p.(*wire.Mcast))
					}
				}
			}
			for _, u := range rd.Unicast {
				busy = true
				rings[u.To].StepToken(now, u.Packet.(*wire.Token))
			}
		}
		if !busy {
			break
		}
		now += time.Millisecond
	}
	for _, self := range members {
		fmt.Printf("node %d delivered %q, aru %d\n", self, delivered[self], rings[self].Aru())
	}
	// Output:
	// node 1 delivered ["1:from one" "2:from two"], aru 2
	// node 2 delivered ["1:from one" "2:from two"], aru 2
}
