package totem_test

import (
	"context"
	"fmt"
	"time"

	"github.com/totem-gcs/totem/multicast/simnet"
	"github.com/totem-gcs/totem/totem"
	"github.com/totem-gcs/totem/totem/client"
)

// A node of a one-node cluster, embedded in the program: a session joins a group, sees
// the view that lists it, multicasts, and receives its own message in the group's
// agreed order. The transport here is in memory (a multicast/simnet network with no
// other node on it); a real node takes a multicast.NewUDP transport instead. Every
// call that blocks is bounded by ctx.
func ExampleNode() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	tr := simnet.New(1, simnet.Config{}).Endpoint(1, 0)
	defer tr.Close()
	node, err := totem.New(totem.DefaultConfig(1), tr)
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- node.Run(runCtx) }()
	defer func() { stop(); <-ran }() // Run returns once every goroutine of the node has exited

	s, err := node.Open(ctx, 1234, "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	// Join and Multicast return once the node has queued the request; what they cause
	// arrives as events, in order, once the node has formed its ring.
	if err := s.Join(ctx, "chat"); err != nil {
		fmt.Println(err)
		return
	}
	if err := s.Multicast(ctx, "chat", []byte("hello"), client.Agreed); err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		ev, err := s.Receive(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		switch ev := ev.(type) {
		case client.View:
			for _, c := range ev.Joined {
				fmt.Printf("view of %s: %s (node %d, pid %d) joined, reason %s; %d member(s)\n",
					ev.Group, c.Member.Name, c.Member.Node, c.Member.PID, c.Reason, len(ev.Members))
			}
		case client.Message:
			fmt.Printf("message in %s from %s: %s\n", ev.Group, ev.Sender.Name, ev.Data)
		}
	}
	fmt.Println("ring members:", node.Status().Members)
	// Output:
	// view of chat: example (node 1, pid 1234) joined, reason join; 1 member(s)
	// message in chat from example: hello
	// ring members: [1]
}
