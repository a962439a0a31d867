// Command totemd is the totem daemon: one per host. The daemons form a Totem ring and
// serve process groups to local applications over a Unix socket.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newApp().RunContext(ctx, os.Args); err != nil {
		os.Exit(exitCode(os.Stderr, err))
	}
}

// exitCode prints err and returns the exit status it calls for: that of a cli.ExitCoder
// (2 for usage and configuration errors, whose messages say "totemd:" already), else 1.
func exitCode(w io.Writer, err error) int {
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(w, msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(w, "totemd:", err)
	return 1
}
