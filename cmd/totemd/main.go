// Command totemd is the totem daemon: one per host. The daemons form a Totem ring and
// serve process groups to local applications over a Unix socket.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newApp().RunContext(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "totemd:", err)
		os.Exit(1)
	}
}
