// Command totemd is the totem daemon: one per host. The daemons form a Totem ring and
// serve process groups to local applications over a Unix socket.
//
// Its settings come from flags and from one TOML cluster file shared by every node
// (--config; clusterfile.go), flags winning; check-config validates a file without
// starting. docs/OPERATIONS.md is the operator's guide: a cluster of three hosts, the
// firewall, keys, timeouts, the log lines and the metrics (--metrics).
//
// Exit status: 0 after a clean stop (SIGINT, SIGTERM), 1 when the daemon failed, 2 on
// a usage or configuration error (which a restart would not fix).
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
	defer stop()
	if err := newApp().RunContext(ctx, os.Args); err != nil {
		os.Exit(cliutil.ExitCode(os.Stderr, "totemd", err))
	}
}
