// Command totemctl is the operator's and script's view of a local totem daemon: the
// node's ring status, the process groups it knows, and sending, listening and
// benchmarking through a group. It talks to totemd over its Unix socket with the Go
// client library (totem/client).
//
// Exit status: 0 on success, 1 when the command failed, 2 on a usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/totem-gcs/totem/internal/cliutil"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newApp().RunContext(ctx, os.Args)
	stop()
	os.Exit(cliutil.ExitCode(os.Stderr, "totemctl", err))
}
