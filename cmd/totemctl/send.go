package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/totem-gcs/totem/internal/cliutil"
	"github.com/totem-gcs/totem/totem/client"
)

func sendCommand() *cli.Command {
	return &cli.Command{
		Name:      "send",
		Usage:     "multicast TEXT, or one message per line of standard input, to a group",
		ArgsUsage: "[TEXT...]",
		Description: "Joins GROUP first (only members may multicast), sends, then leaves. Several\n" +
			"arguments are joined with spaces into one message. Without arguments, each line of\n" +
			"standard input is one message (an empty line is an empty message).\n" +
			"Exits 0 only once the daemon has accepted every message for ordering.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "group", Usage: "the `GROUP` to send to (required)"},
			&cli.BoolFlag{Name: "safe", Usage: "safe delivery (delivered once every node has it) instead of agreed"},
			&cli.DurationFlag{Name: "timeout", Usage: "give up if not every message is accepted within `DURATION`", DefaultText: "no limit"},
		},
		Action: send,
	}
}

func send(c *cli.Context) error {
	group := c.String("group")
	if group == "" {
		return cliutil.Usagef("send: --group is required")
	}
	ctx, cancel := withTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	cl, err := dial(c)
	if err != nil {
		return err
	}
	drained := drain(cl)
	defer func() {
		leave(cl, group)
		<-drained
	}()
	if err := cl.Join(ctx, group); err != nil {
		return err
	}
	level := client.Agreed
	if c.Bool("safe") {
		level = client.Safe
	}
	if c.NArg() > 0 {
		return cl.Multicast(ctx, group, []byte(strings.Join(c.Args().Slice(), " ")), level)
	}
	n, err := sendLines(ctx, c, cl, group, level)
	if err != nil {
		return fmt.Errorf("%w (%d messages accepted before)", err, n)
	}
	return nil
}

// sendLines sends each line of standard input and returns how many were accepted.
func sendLines(ctx context.Context, c *cli.Context, cl *client.Client, group string, level client.Level) (int, error) {
	sc := bufio.NewScanner(c.App.Reader)
	limit := cl.Info().MaxMessage
	// Room for the message and a "\r\n"; the first buffer counts as room too.
	sc.Buffer(make([]byte, 0, min(64<<10, limit+2)), limit+2)
	n := 0
	for sc.Scan() {
		if err := cl.Multicast(ctx, group, sc.Bytes(), level); err != nil {
			return n, fmt.Errorf("line %d: %w", n+1, err)
		}
		n++
	}
	switch err := sc.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		return n, fmt.Errorf("line %d: longer than the daemon's largest message (%d bytes)", n+1, limit)
	case err != nil:
		return n, fmt.Errorf("reading standard input: %w", err)
	}
	return n, nil
}

// withTimeout is context.WithTimeout where 0 means no limit.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
