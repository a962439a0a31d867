// Command totemsim runs the Totem ordering protocol on a simulated LAN and reports what
// happened: every processor's delivery order is checked to be identical, gap-free and
// FIFO per sender, and safe messages are checked to be held by all before delivery.
// The same seed replays the same run byte for byte.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := newApp().RunContext(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "totemsim:", err)
		os.Exit(1)
	}
}
