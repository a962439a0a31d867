package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/totem-gcs/totem/cmd/internal/buildinfo"
	"github.com/totem-gcs/totem/internal/cliutil"
	"github.com/totem-gcs/totem/totem/client"
)

// dialTimeout bounds connecting to the daemon and its handshake, so that a wedged
// daemon cannot hang a script.
const dialTimeout = 5 * time.Second

// leaveTimeout bounds the graceful leave at the end of send, listen and bench; past it
// the connection is simply closed (the others then see the reason "disconnect").
const leaveTimeout = 2 * time.Second

// newApp builds the command line. main runs it with os.Args; tests run it with their own
// arguments, Reader and Writer. It never exits the process itself: errors come back from
// Run and exitCode turns them into the exit status.
func newApp() *cli.App {
	app := &cli.App{
		Name:  "totemctl",
		Usage: "talk to the local totem daemon: ring status (once or watched), groups, send, listen, bench",
		Description: "Members and senders are shown as NODE/PID (the node id and the client's process id).\n" +
			"Exit status: 0 on success, 1 when the command failed, 2 on a usage error.",
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name: "socket", EnvVars: []string{"TOTEM_SOCKET"}, Value: client.DefaultSocket(),
				Usage: "the daemon's Unix socket `PATH` (totemd's default for this user)",
			},
		},
		Commands: []*cli.Command{
			statusCommand(), watchCommand(), groupsCommand(), membersCommand(),
			sendCommand(), listenCommand(), benchCommand(),
		},
		Action:         noCommand,
		OnUsageError:   usageError,
		ExitErrHandler: func(*cli.Context, error) {}, // exitCode reports, once
		Version:        buildinfo.Version(),
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = usageError
	}
	return app
}

// noCommand runs when no known command was named.
func noCommand(c *cli.Context) error {
	if c.NArg() > 0 {
		return cliutil.Usagef("unknown command %q (see totemctl --help)", c.Args().First())
	}
	cli.ShowAppHelp(c)
	return cliutil.Usagef("a command is required")
}

// usageError turns urfave/cli's flag parsing errors into exit status 2.
func usageError(c *cli.Context, err error, _ bool) error {
	return cliutil.Usagef("%s: %v (see --help)", c.Command.FullName(), err)
}

// dial connects to the daemon at --socket; the client's name, which other members see,
// says which command it is.
func dial(c *cli.Context) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(c.Context, dialTimeout)
	defer cancel()
	path := c.String("socket")
	cl, err := client.Dial(ctx, path, client.WithName("totemctl "+c.Command.Name))
	if err != nil {
		return nil, fmt.Errorf("%w (is totemd running? --socket or TOTEM_SOCKET name its socket)", err)
	}
	return cl, nil
}

// drain reads and discards cl's events until the connection ends, so that replies are
// never held up behind unread events; the returned channel is closed when it is done.
func drain(cl *client.Client) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range cl.Events() {
		}
	}()
	return done
}

// leave leaves group gracefully (others see "leave", not "disconnect") and closes the
// connection. Events are drained meanwhile, since the reply may sit behind them.
func leave(cl *client.Client, group string) {
	drained := drain(cl)
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	cl.Leave(ctx, group) // best effort: closing below leaves anyway
	cancel()
	cl.Close()
	<-drained
}
