// Command quickstart brings up a three-node totem ring on this machine and shows the
// replicated counter working across it: it builds totemd and counter, starts one daemon
// per node over UDP on 127.0.0.1 and a counter replica on each, changes the counter
// through different nodes, kills one daemon with SIGKILL, goes on with the other two,
// restarts it, and shows every replica holding the same value. Run it from the
// repository:
//
//	go run ./demo/quickstart          # the tour, then everything stops
//	go run ./demo/quickstart --keep   # then keep the ring running to try it by hand
//
// Nothing leaves the host: the daemons talk unicast over 127.0.0.1.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keep := fs.Bool("keep", false, "keep the ring and the replicas running after the tour, until interrupted")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "quickstart: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	t, err := newTour(stdout)
	if err != nil {
		fmt.Fprintln(stderr, "quickstart:", err)
		return 1
	}
	defer t.close()
	if err := t.run(ctx, *keep); err != nil {
		fmt.Fprintln(stderr, "quickstart:", err)
		t.showLogs(stderr)
		return 1
	}
	return 0
}
