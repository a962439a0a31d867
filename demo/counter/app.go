package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/totem-gcs/totem/internal/cliutil"
	"github.com/totem-gcs/totem/rsm"
	"github.com/totem-gcs/totem/totem/client"
)

// dialTimeout bounds connecting to the daemon, so that a wedged daemon cannot hang a
// script.
const dialTimeout = 5 * time.Second

// run runs the command line and returns the exit status. Tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp()
	app.Reader, app.Writer, app.ErrWriter = stdin, stdout, stderr
	return cliutil.ExitCode(stderr, "counter", app.RunContext(ctx, args))
}

func newApp() *cli.App {
	app := &cli.App{
		Name:  "counter",
		Usage: "a replicated counter over a totem group",
		Description: "Run a replica on each daemon (counter replica), then change and read the value from\n" +
			"any host (counter add 5, counter get). Exit status: 0 on success, 1 when the command\n" +
			"failed, 2 on a usage error.",
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name: "socket", EnvVars: []string{"TOTEM_SOCKET"}, Value: client.DefaultSocket(),
				Usage: "the daemon's Unix socket `PATH`",
			},
			&cli.StringFlag{Name: "group", Value: "counter", Usage: "the replicas' group `NAME`"},
			&cli.DurationFlag{
				Name: "timeout", Value: 10 * time.Second,
				Usage: "give up on a command after `DURATION` (replicas are retried meanwhile)",
			},
		},
		Commands: []*cli.Command{
			replicaCommand(),
			opCommand("add", "N", "add N (negative to subtract) and print the new value"),
			opCommand("inc", "", "add 1 and print the new value"),
			opCommand("dec", "", "subtract 1 and print the new value"),
			opCommand("get", "", "print the value (a linearizable read)"),
			replicasCommand(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cliutil.Usagef("unknown command %q (see counter --help)", c.Args().First())
			}
			cli.ShowAppHelp(c)
			return cliutil.Usagef("a command is required")
		},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return cliutil.Usagef("%v (see --help)", err)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run reports, once
		HideVersion:    true,
	}
	return app
}

func dial(c *cli.Context, name string) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(c.Context, dialTimeout)
	defer cancel()
	cl, err := client.Dial(ctx, c.String("socket"), client.WithName(name))
	if err != nil {
		return nil, fmt.Errorf("%w (is totemd running? --socket or TOTEM_SOCKET name its socket)", err)
	}
	return cl, nil
}

// op is one counter operation: an addition, or a read.
type op struct {
	read bool
	n    int64
}

// parseOp reads an operation from words: inc, dec, add N, get.
func parseOp(words []string) (op, error) {
	if len(words) == 0 {
		return op{}, errors.New("no command")
	}
	want := 0
	if words[0] == "add" {
		want = 1
	}
	if len(words) != want+1 {
		if want == 1 {
			return op{}, errors.New("add takes one number")
		}
		return op{}, fmt.Errorf("%s takes no arguments", words[0])
	}
	switch words[0] {
	case "inc":
		return op{n: 1}, nil
	case "dec":
		return op{n: -1}, nil
	case "get":
		return op{read: true}, nil
	case "add":
		n, err := strconv.ParseInt(words[1], 10, 64)
		if err != nil {
			return op{}, fmt.Errorf("add: %q is not a whole number", words[1])
		}
		return op{n: n}, nil
	}
	return op{}, fmt.Errorf("unknown command %q (inc, dec, add N, get)", words[0])
}

// proposer is what runs an operation: a local replica or a remote client.
type proposer interface {
	Propose(ctx context.Context, cmd []byte) ([]byte, error)
	Read(ctx context.Context, query []byte) ([]byte, error)
}

// do runs o and returns the value it answered.
func (o op) do(ctx context.Context, p proposer) (string, error) {
	var res []byte
	var err error
	if o.read {
		res, err = p.Read(ctx, getQuery)
	} else {
		res, err = p.Propose(ctx, addCommand(o.n))
	}
	if err != nil {
		return "", err
	}
	if err := resultErr(res); err != nil {
		return "", err
	}
	return string(res), nil
}

// opCommand is a one-shot command: a client that asks some replica and prints the value.
func opCommand(name, args, usage string) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: args,
		SkipFlagParsing: true, // "add -5" is a number, not a flag
		Action: func(c *cli.Context) error {
			// With flag parsing off, help is asked for by hand.
			if args := c.Args().Slice(); len(args) == 1 && (args[0] == "--help" || args[0] == "-h") {
				return cli.ShowCommandHelp(c.Lineage()[1], name)
			}
			o, err := parseOp(append([]string{name}, c.Args().Slice()...))
			if err != nil {
				return cliutil.Usagef("%v", err)
			}
			cl, err := dial(c, "counter "+name)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			remote, err := rsm.Connect(ctx, cl, c.String("group"), rsm.RemoteConfig{})
			if err != nil {
				return err
			}
			defer remote.Close()
			v, err := o.do(ctx, remote)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			fmt.Fprintln(c.App.Writer, v)
			return nil
		},
	}
}

// replicasCommand lists the replicas the daemon knows of.
func replicasCommand() *cli.Command {
	return &cli.Command{
		Name: "replicas", Usage: "list the group's replicas (NODE/SESSION and process id)",
		Action: func(c *cli.Context) error {
			cl, err := dial(c, "counter replicas")
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			ms, err := cl.Members(ctx, c.String("group"))
			if err != nil {
				return err
			}
			for _, m := range ms {
				fmt.Fprintf(c.App.Writer, "%d/%d pid %d\n", m.Node, m.Session, m.PID)
			}
			return nil
		},
	}
}
