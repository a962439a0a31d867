// Command counter is a replicated counter: the demo of the rsm package. Every replica
// holds the same value because every replica applies the same additions in the agreed
// order of a totem group; a majority of the expected replicas must be present to change
// or read it.
//
//	counter --socket S replica      # a replica on S's daemon; shows the value and the replicas live
//	counter --socket S add 5        # prints the new value
//	counter --socket S inc | dec | get | replicas
//
// A replica runs until interrupted (or "quit"); typed lines are commands too (inc, dec,
// add N, get). Its status line is printed whenever the value, the replicas or its state
// changes:
//
//	value 5 | replicas 1/3 2/3 3/3 (3 of 3) | serving
//
// The one-shot commands are clients: they reach a replica through the group's clients
// group (rsm.Remote), preferring one on their own node, and retry at another with the
// same command identity, so a command is applied once however often it is retried. In a
// minority they fail at once with "no quorum".
//
// Exit status: 0 on success, 1 when the command failed, 2 on a usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
