// Command totemload is the load client of the benchmark harness in shared/bench: a Go
// replacement of the harness's cpgload (corosync/cpgload.c) that talks to the local
// totemd through totem/client instead of CPG, with the same command line, semantics
// and output, so that run_all.sh and summarize.py run it side by side with corosync.
//
//	totemload -m tput|lat -i IDX -n NODES [-k SENDERS] [-s SIZE] [-c COUNT] [-r RATE]
//	          [-d SEND_S] [-T TOTAL_S] [-w JOIN_S] [-g GROUP] [-R RUNID] [-L LABEL]
//	          [-l LOGFILE] [-v] [-socket PATH]
//
// One instance runs on every node. All instances join one group (agreed delivery),
// wait until it has NODES members (bounded by -w), then the nodes with IDX <= SENDERS
// send:
//
//   - tput: up to COUNT messages of SIZE bytes as fast as the daemon accepts them,
//     for at most SEND_S seconds. Messages are written without waiting for each
//     answer (client.MulticastAsync), with a bounded window of unanswered ones; the
//     daemon slows the sender to the ring's pace by reading its socket only as fast
//     as the ring accepts messages.
//   - lat: RATE messages/s for SEND_S seconds (or COUNT messages), open loop at
//     scheduled times. Every node records, for every data message, delivery time -
//     scheduled send time (CLOCK_MONOTONIC, which all network namespaces of a host
//     share).
//
// Every message starts with a 32-byte header (magic, run id, kind DATA/END, sender
// index, size, sequence number, scheduled send time). After its last data message a
// sender sends END carrying its count; a node stops once it has delivered every
// sender's END, which by total order and per-sender FIFO is the same point of the
// delivery sequence on every node. The digest (FNV-1a 64 over node id, sender, kind and
// sequence of every delivered message, in delivery order) must then be equal on every
// node.
//
// Output: exactly one "RESULT key=value ..." line on stdout (see the harness's
// README). Exit status: 0 complete, 1 incomplete, timeout or order error, 2 usage or
// setup error. Everything after the group formed is bounded by -T.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr, sigs))
}
