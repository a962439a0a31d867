// Command totemd is the totem daemon: one per host. The daemons form a Totem ring and
// serve process groups to local applications over a Unix socket.
//
// Operations (issue 12), still to do, for the next session:
//   - one TOML cluster file shared unchanged by every node (cluster name, transport,
//     node list with ids and addresses, timers, key, socket and access rules), each
//     node picking its entry by id or local address; it replaces today's "key value"
//     file (config.go), whose rules (file:line errors, no repeats) it must keep;
//   - every effective timer in status (today: check-config and the "timers" line at
//     start); the token coefficient scales udpu rings only, a multicast ring does not
//     know its size;
//   - totemctl status as a table of every configured node (address, member, missing,
//     last heard), transport, key and timers, with --json, and totemctl watch; this
//     needs the transport to keep a last-heard time per node;
//   - an operations guide (three hosts, firewall ports, sizing timeouts, the metrics,
//     each log line) and example_test.go files;
//   - counter's "add --help" is read as a number.
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
