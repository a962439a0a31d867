package membership_test

import (
	"fmt"
	"time"

	"github.com/totem-gcs/totem/membership"
	"github.com/totem-gcs/totem/multicast/wire"
)

// A Machine is driven the way the node drives it: after every event, persist
// Ready.RingSeq, send the packets, deliver the events in order, and call Tick at
// Ready.Deadline (here virtual time jumps straight there). A processor alone on its
// network gathers for one join interval, hears nobody and forms a ring by itself; its
// regular configuration is delivered before any message of that ring. Ring sequence
// numbers grow by 4 per ring, as Corosync's do.
func ExampleMachine() {
	m, err := membership.New(membership.DefaultConfig(1), 0, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	var now time.Duration // virtual time: the core never reads a clock
	var stored uint64     // stands for stable storage
	submitted := false
	for step := 0; step < 100; step++ { // a bound on the loop, not on time
		rd := m.Ready()
		if rd.RingSeq != 0 {
			stored = rd.RingSeq // before sending anything of this Ready
		}
		// rd.Multicast and rd.Unicast would go to the other processors: there are none.
		for _, t := range rd.Transitions {
			fmt.Printf("%v -> %v (%s)\n", t.From, t.To, t.Reason)
		}
		for _, ev := range rd.Events {
			if c := ev.Config; c != nil {
				fmt.Printf("configuration (transitional %t) ring %v members %v joined %v\n",
					c.Transitional, c.Ring, c.Members, c.Joined)
			} else {
				fmt.Printf("deliver seq %d from %d: %s\n", ev.Msg.Seq, ev.Msg.Origin, ev.Msg.Payload)
				return
			}
		}
		if !submitted && m.Status().State == membership.Operational {
			if err := m.Submit(now, []byte("hello"), wire.Agreed); err != nil {
				fmt.Println(err)
				return
			}
			submitted = true
			fmt.Printf("submitted; stored ring seq %d\n", stored)
		}
		now = max(now, rd.Deadline)
		m.Tick(now)
	}
	fmt.Println("not delivered within 100 steps")
	// Output:
	// init -> gather (start)
	// gather -> operational (installed)
	// configuration (transitional false) ring 1.5 members [1] joined [1]
	// submitted; stored ring seq 5
	// deliver seq 1 from 1: hello
}
