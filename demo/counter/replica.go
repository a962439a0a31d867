package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/totem-gcs/totem/internal/cliutil"
	"github.com/totem-gcs/totem/rsm"
)

// statusPoll is how often a replica looks for changes of its replicas and state; value
// changes are shown at once.
const statusPoll = 100 * time.Millisecond

func replicaCommand() *cli.Command {
	return &cli.Command{
		Name:  "replica",
		Usage: "run a replica on this daemon; show the value and the replicas live; read commands from stdin",
		Description: "Prints a status line whenever the value, the replicas or the replica's state changes.\n" +
			"Lines on standard input are commands (inc, dec, add N, get, quit); their results are\n" +
			"printed as \"= VALUE\". It runs until interrupted or told to quit, also after standard\n" +
			"input ends.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "replicas", Value: 3, Usage: "the expected number of replicas `N`: a majority of N must be present"},
			&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "log `LEVEL` of the replica on standard error: debug, info, warn, error"},
		},
		Action: runReplica,
	}
}

func runReplica(c *cli.Context) error {
	if c.NArg() > 0 {
		return cliutil.Usagef("replica takes no arguments")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return cliutil.Usagef("--log-level: %v", err)
	}
	n := c.Int("replicas")
	if n < 1 {
		return cliutil.Usagef("--replicas must be at least 1")
	}
	group := c.String("group")
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()

	// Two connections: the replica's session counts as a vote in the replicas' group, so
	// the gateway for remote clients sits on a session of its own.
	cl, err := dial(c, "counter replica")
	if err != nil {
		return err
	}
	defer cl.Close()
	gw, err := dial(c, "counter gateway")
	if err != nil {
		return err
	}
	defer gw.Close()
	ch, err := rsm.JoinGroup(ctx, cl, group)
	if err != nil {
		return err
	}
	gch, err := rsm.JoinGroup(ctx, gw, rsm.ClientsGroup(group))
	if err != nil {
		return err
	}
	sm := newCounter()
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
	r, err := rsm.New(rsm.Config{Replicas: n, Logger: log}, sm, ch)
	if err != nil {
		return err
	}

	out := &cliutil.LockedWriter{W: c.App.Writer} // the display and the command loop print lines
	var wg sync.WaitGroup
	var runErr, serveErr error
	wg.Go(func() {
		runErr = r.Run(ctx)
		cancel()
	})
	wg.Go(func() {
		serveErr = r.Serve(ctx, gch, rsm.ServeConfig{})
		cancel()
	})
	wg.Go(func() { show(ctx, r, sm, n, out) })
	commands(ctx, cancel, c.App.Reader, r, out)
	wg.Wait()
	if c.Context.Err() != nil {
		return nil // interrupted
	}
	return errors.Join(runErr, serveErr)
}

// show prints the status line whenever it changes, until ctx ends.
func show(ctx context.Context, r *rsm.Replica, sm *counter, n int, out *cliutil.LockedWriter) {
	tick := time.NewTicker(statusPoll)
	defer tick.Stop()
	last := ""
	for {
		if line := statusLine(r.Status(), sm.value.Load(), n); line != last {
			fmt.Fprintln(out, line)
			last = line
		}
		select {
		case <-ctx.Done():
			return
		case <-sm.changed:
		case <-tick.C:
		}
	}
}

// statusLine renders a replica's state: "value 5 | replicas 1/3 2/3 (2 of 3) | serving".
func statusLine(st rsm.Status, value int64, n int) string {
	ms := make([]string, len(st.Members))
	for i, m := range st.Members {
		ms[i] = m.String()
	}
	var state string
	switch {
	case !st.HaveView:
		state = "starting"
	case !st.Quorum && len(st.Members) > n:
		state = fmt.Sprintf("no quorum: more replicas than the %d expected", n)
	case !st.Quorum:
		state = fmt.Sprintf("no quorum: a majority of %d is %d", n, n/2+1)
	case st.Ready:
		state = "serving"
	case !st.Synced:
		state = "catching up"
	default:
		state = "waiting for the replicas to agree"
	}
	list := strings.Join(ms, " ")
	if list == "" {
		list = "none"
	}
	return fmt.Sprintf("value %d | replicas %s (%d of %d) | %s", value, list, len(ms), n, state)
}

// commands runs the commands typed on in until ctx ends or "quit"; the end of input
// only stops reading.
func commands(ctx context.Context, quit context.CancelFunc, in io.Reader, r *rsm.Replica, out *cliutil.LockedWriter) {
	lines := make(chan string)
	go func() { // ends with in; a blocked read cannot be interrupted
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
		case <-ctx.Done():
			return
		}
		if !ok {
			<-ctx.Done()
			return
		}
		words := strings.Fields(line)
		switch {
		case len(words) == 0:
			continue
		case words[0] == "quit" || words[0] == "exit":
			quit()
			return
		}
		o, err := parseOp(words)
		if err == nil {
			var v string
			v, err = o.do(ctx, r)
			if err == nil {
				fmt.Fprintln(out, "= "+v)
				continue
			}
		}
		fmt.Fprintln(out, "error: "+err.Error())
	}
}
