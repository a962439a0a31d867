package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/totem-gcs/totem/internal/cliutil"
	"github.com/totem-gcs/totem/totem/client"
)

// clearScreen moves the cursor home and clears the terminal (ANSI).
const clearScreen = "\x1b[H\x1b[2J"

func watchCommand() *cli.Command {
	return &cli.Command{
		Name:  "watch",
		Usage: "print the status table again every interval, until interrupted",
		Description: "Each snapshot starts with a line \"totemctl watch: TIME, every INTERVAL\" and is the\n" +
			"table of totemctl status. On a terminal the screen is cleared before each one;\n" +
			"otherwise the snapshots follow one another, separated by an empty line. It stops on\n" +
			"Ctrl-C, after --count snapshots, or with an error when the daemon goes away.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "time between snapshots"},
			&cli.IntFlag{Name: "count", Usage: "stop after `N` snapshots (0: until interrupted)"},
		},
		Action: watch,
	}
}

func watch(c *cli.Context) error {
	if c.NArg() > 0 {
		return cliutil.Usagef("watch takes no arguments, got %q", c.Args().Slice())
	}
	interval, count := c.Duration("interval"), c.Int("count")
	switch {
	case interval <= 0:
		return cliutil.Usagef("watch: --interval must be positive, got %s", interval)
	case count < 0:
		return cliutil.Usagef("watch: --count must not be negative, got %d", count)
	}
	cl, done, err := openQueryClient(c)
	if err != nil {
		return err
	}
	defer done()
	w := c.App.Writer
	clear := isTerminal(w)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; count == 0 || i < count; i++ {
		if i > 0 {
			timer.Reset(interval)
			select {
			case <-c.Context.Done():
				return nil
			case <-cl.Done(): // the connection ended: the daemon went away
				return daemonGone(cl.Err())
			case <-timer.C:
			}
		}
		st, err := snapshot(c.Context, cl)
		if c.Context.Err() != nil {
			return nil // interrupted
		}
		if err != nil {
			return daemonGone(err)
		}
		if clear {
			fmt.Fprint(w, clearScreen)
		} else if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "totemctl watch: %s, every %s\n\n", time.Now().Format("15:04:05"), interval)
		if err := writeStatus(w, st); err != nil {
			return err
		}
	}
	return nil
}

// snapshot asks for the status, bounded by dialTimeout so that a wedged daemon does
// not hang the watch.
func snapshot(ctx context.Context, cl *client.Client) (client.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	return cl.Status(ctx)
}

func daemonGone(err error) error {
	if err == nil {
		err = errors.New("connection closed")
	}
	return fmt.Errorf("watch: the daemon went away: %w", err)
}

// isTerminal reports whether w is a terminal (a character device), where watch clears
// the screen.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
