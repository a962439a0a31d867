package simnet_test

import (
	"fmt"
	"time"

	"github.com/totem-gcs/totem/multicast/simnet"
	"github.com/totem-gcs/totem/multicast/wire"
)

// A harness drives the network from one goroutine: send, then deliver what is due.
func Example() {
	net := simnet.New(1, simnet.Config{Link: simnet.LinkConfig{DelayMin: time.Millisecond}})
	for id := range 3 {
		net.AddNode(wire.NodeID(id + 1))
	}
	net.Send(1, 0, []byte("join")) // multicast
	net.Partition([]wire.NodeID{1, 2}, []wire.NodeID{3})
	net.Send(2, 3, []byte("token")) // cannot cross the partition

	for _, d := range net.DeliverDue(time.Millisecond) {
		fmt.Printf("%v: %d -> %d %s\n", d.At, d.From, d.To, d.Data)
	}
	s := net.Stats()
	fmt.Println("delivered", s.Delivered, "dropped by partition", s.DroppedPartition)
	// Output:
	// 1ms: 1 -> 2 join
	// delivered 1 dropped by partition 2
}
