package main

import (
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/totem-gcs/totem/ring"
	"github.com/totem-gcs/totem/ring/ringsim"
)

func newApp() *cli.App {
	return &cli.App{
		Name:  "totemsim",
		Usage: "run the Totem ordering protocol on a simulated, lossy LAN and check the result",
		Flags: []cli.Flag{
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "simulation seed (same seed, same run)"},
			&cli.IntFlag{Name: "nodes", Value: 5, Usage: "processors on the ring (1-64)"},
			&cli.IntFlag{Name: "messages", Value: 200, Usage: "messages each processor sends"},
			&cli.Float64Flag{Name: "loss", Value: 0.1, Usage: "probability a datagram is lost (0-0.5)"},
			&cli.Float64Flag{Name: "dup", Value: 0.02, Usage: "probability a datagram is duplicated"},
			&cli.Float64Flag{Name: "safe", Value: 0.25, Usage: "fraction of messages sent with safe delivery"},
			&cli.DurationFlag{Name: "delay", Value: 200 * time.Microsecond, Usage: "one-way network delay"},
			&cli.DurationFlag{Name: "jitter", Value: 100 * time.Microsecond, Usage: "mean extra random delay"},
		},
		Action: run,
	}
}

func run(c *cli.Context) error {
	p := ringsim.RingParams{
		Nodes:     c.Int("nodes"),
		PerNode:   c.Int("messages"),
		SafeRatio: c.Float64("safe"),
	}
	p.Link.Loss = c.Float64("loss")
	p.Link.Duplicate = c.Float64("dup")
	p.Link.DelayMin = c.Duration("delay")
	p.Link.Jitter = c.Duration("jitter")
	switch {
	case p.Nodes < 1 || p.Nodes > 64:
		return cli.Exit("--nodes must be in 1..64", 2)
	case p.PerNode < 0 || p.PerNode > 1_000_000:
		return cli.Exit("--messages must be in 0..1000000", 2)
	case p.Link.Loss < 0 || p.Link.Loss > 0.5 || p.Link.Duplicate < 0 || p.Link.Duplicate > 0.5:
		return cli.Exit("--loss and --dup must be in 0..0.5", 2)
	}
	start := time.Now()
	res := ringsim.RunRing(c.Uint64("seed"), p)
	report(c.App.Writer, res, time.Since(start))
	if res.Err != nil {
		return fmt.Errorf("seed %d violated a property: %w", res.Seed, res.Err)
	}
	return nil
}

func report(w io.Writer, res ringsim.RingResult, took time.Duration) {
	var sum ring.Stats
	for _, s := range res.Rings {
		sum.TokensAccepted += s.TokensAccepted
		sum.TokenRetransmits += s.TokenRetransmits
		sum.Retransmitted += s.Retransmitted
		sum.SafeDelivered += s.SafeDelivered
	}
	p := res.Params
	fmt.Fprintf(w, "ring of %d processors, seed %d, loss %.0f%%, duplication %.0f%%, delay %v + jitter %v\n",
		p.Nodes, res.Seed, 100*p.Link.Loss, 100*p.Link.Duplicate, p.Link.DelayMin, p.Link.Jitter)
	fmt.Fprintf(w, "  network: %d datagrams sent, %d lost, %d duplicated\n",
		res.Network.Sent, res.Network.DroppedLoss, res.Network.Duplicated)
	fmt.Fprintf(w, "  token:   %d visits, %d token retransmissions\n", sum.TokensAccepted, sum.TokenRetransmits)
	fmt.Fprintf(w, "  order:   %d messages delivered by every processor (%d safe deliveries), %d re-sent on request\n",
		res.Ordered, sum.SafeDelivered, sum.Retransmitted)
	fmt.Fprintf(w, "  time:    %v simulated in %v\n", res.VirtualTime.Round(time.Microsecond), took.Round(time.Millisecond))
	if res.Err == nil {
		fmt.Fprintf(w, "  check:   identical total order on every processor, no gaps, no duplicates, FIFO per sender, safe = held by all: OK\n")
	}
	fmt.Fprintf(w, "  digest:  %x\n", res.Digest[:8])
}
