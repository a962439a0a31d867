package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/totem-gcs/totem/totem/client"
)

func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "/run/totem/totemd.sock", client.WithName("example"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Join(ctx, "chat"); err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // events are read apart from the calls that send
		defer close(done)
		for ev := range c.Events() {
			switch ev := ev.(type) {
			case client.View:
				fmt.Println("members:", len(ev.Members))
			case client.Message:
				fmt.Printf("%s (pid %d): %s\n", ev.Sender.Name, ev.Sender.PID, ev.Data)
				return
			}
		}
	}()
	if err := c.Multicast(ctx, "chat", []byte("hello"), client.Safe); err != nil {
		log.Fatal(err)
	}
	<-done
}
