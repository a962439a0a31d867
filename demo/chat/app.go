package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/totem-gcs/totem/internal/cliutil"
	"github.com/totem-gcs/totem/totem/client"
)

const (
	// dialTimeout bounds connecting to the daemon and joining the room.
	dialTimeout = 5 * time.Second
	// leaveTimeout bounds the graceful leave at the end: past it the connection is
	// closed anyway (the others then see "disconnect").
	leaveTimeout = 3 * time.Second
	// maxLine is the longest chat line sent (in bytes); longer input lines are refused.
	maxLine = 16 << 10
	// maxNameLen is the longest nickname and room name the daemon accepts.
	maxNameLen = 255
)

// env is what the program talks to: main passes the process's, tests their own.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// dialed, if set, is called with the client once connected (tests use it to cut the
	// connection abruptly).
	dialed func(*client.Client)
}

// run runs the chat program with args (args[0] is the program's name) and returns its
// exit status: 0 after /quit, end of input or a signal (ctx canceled), 1 when it failed
// (the daemon went away, for one), 2 on a usage error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, &env{stdin: stdin, stdout: stdout, stderr: stderr})
}

func runEnv(ctx context.Context, args []string, e *env) int {
	e.stderr = &cliutil.LockedWriter{W: e.stderr}
	return cliutil.ExitCode(e.stderr, "chat", newApp(e).RunContext(ctx, args))
}

func newApp(e *env) *cli.App {
	return &cli.App{
		Name:      "chat",
		Usage:     "a terminal chat room over a totem process group",
		UsageText: "chat [--socket PATH] [--nick NAME] [--room ROOM] [--history N]",
		Description: "Each line of standard input is a message to the room; /who lists the members,\n" +
			"/quit (or the end of input) leaves. Standard output shows one event per line:\n" +
			"  <alice> hello\n" +
			"  * bob joined (node 2)              * bob joined (node-up, node 2)\n" +
			"  * bob left (leave)                 (or disconnect, node-down)\n" +
			"A newcomer first prints the room's recent history between\n" +
			"  --- history (N messages) ---  and  --- end of history ---\n" +
			"Exit status: 0 after leaving, 1 when the daemon goes away, 2 on a usage error.",
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name: "socket", EnvVars: []string{"TOTEM_SOCKET"}, Value: client.DefaultSocket(),
				Usage: "the daemon's Unix socket `PATH` (totemd's default for this user)",
			},
			&cli.StringFlag{
				Name: "nick", Value: os.Getenv("USER"), DefaultText: "$USER",
				Usage: "your `NAME` in the room (the client name the others see)",
			},
			&cli.StringFlag{Name: "room", Value: "lobby", Usage: "the `ROOM` (process group) to join"},
			&cli.IntFlag{
				Name: "history", Value: 100,
				Usage: fmt.Sprintf("keep and hand to newcomers the last `N` lines (0 to %d)", maxHistoryLines),
			},
			&cli.DurationFlag{
				Name: "sync-timeout", Value: 5 * time.Second,
				Usage: "how long a newcomer waits for the history (`DURATION`) before it starts without",
			},
			// The app's own help flag: urfave/cli's shared HelpFlag is written by every
			// app that runs, which races when tests run several at once.
			&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"},
		},
		HideHelp:       true,
		Action:         func(c *cli.Context) error { return chat(c, e) },
		Reader:         e.stdin,
		Writer:         e.stdout,
		ErrWriter:      e.stderr,
		OnUsageError:   usageError,
		ExitErrHandler: func(*cli.Context, error) {}, // exitCode reports, once
		HideVersion:    true,
	}
}

// options are the validated flags.
type options struct {
	socket, nick, room string
	history            int
	syncTimeout        time.Duration
}

func parseOptions(c *cli.Context) (options, error) {
	o := options{
		socket: c.String("socket"), nick: c.String("nick"), room: c.String("room"),
		history: c.Int("history"), syncTimeout: c.Duration("sync-timeout"),
	}
	switch {
	case c.NArg() > 0:
		return o, cliutil.Usagef("chat takes no arguments, got %q (messages come from standard input)", c.Args().Slice())
	case o.nick == "":
		return o, cliutil.Usagef("--nick is required ($USER is not set)")
	case len(o.nick) > maxNameLen:
		return o, cliutil.Usagef("--nick is longer than %d bytes", maxNameLen)
	case o.room == "" || len(o.room) > maxNameLen:
		return o, cliutil.Usagef("--room must be 1 to %d bytes", maxNameLen)
	case o.history < 0 || o.history > maxHistoryLines:
		return o, cliutil.Usagef("--history must be 0 to %d", maxHistoryLines)
	case o.syncTimeout <= 0:
		return o, cliutil.Usagef("--sync-timeout must be positive")
	}
	return o, nil
}

// usageError turns urfave/cli's flag parsing errors into exit status 2.
func usageError(c *cli.Context, err error, _ bool) error {
	return cliutil.Usagef("%v (see --help)", err)
}

// chat is the program: connect, join, then print the room's events and send the input's
// lines until /quit, the end of input or a signal.
func chat(c *cli.Context, e *env) error {
	o, err := parseOptions(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, dialTimeout)
	cl, err := client.Dial(ctx, o.socket, client.WithName(o.nick))
	cancel()
	if err != nil && c.Context.Err() != nil {
		return nil // a signal: nothing to leave
	}
	if err != nil {
		return fmt.Errorf("%w (is totemd running? --socket or TOTEM_SOCKET name its socket)", err)
	}
	defer cl.Close()
	if e.dialed != nil {
		e.dialed(cl)
	}
	s := &session{o: o, e: e, cl: cl, out: bufio.NewWriter(e.stdout)}
	return s.run(c.Context)
}

// session is one run of the chat: the room's state machine between the client and the
// terminal.
type session struct {
	o   options
	e   *env
	cl  *client.Client
	out *bufio.Writer
	snd *sender
	r   *room
}

// command is what the input reader asks of the loop.
type command int

const (
	cmdWho command = iota + 1
	cmdQuit
)

func (s *session) warn(format string, args ...any) {
	fmt.Fprintf(s.e.stderr, "chat: "+format+"\n", args...)
}

func (s *session) run(ctx context.Context) error {
	s.snd = newSender(s.cl, s.o.room, s.warn)
	defer s.snd.stop()
	jctx, cancel := context.WithTimeout(ctx, dialTimeout)
	err := s.cl.Join(jctx, s.o.room)
	cancel()
	switch {
	case err != nil && ctx.Err() != nil:
		return nil // a signal: closing the connection leaves, if the join went through
	case err != nil:
		return err
	}
	info := s.cl.Info()
	s.r = newRoom(key{Node: info.NodeID, Session: info.Session}, s.o.history, info.MaxMessage)

	cmds := make(chan command)
	done := make(chan struct{})
	defer close(done)
	go s.readInput(min(maxLine, info.MaxMessage-1), cmds, done)

	var (
		quitting   bool
		leaveTimer <-chan time.Time
		claimTimer <-chan time.Time
		claimed    bool
		interrupt  = ctx.Done()
	)
	quit := func() {
		if !quitting {
			quitting = true
			s.snd.leave()
			leaveTimer = time.After(leaveTimeout)
		}
	}
	for {
		select {
		case ev, ok := <-s.cl.Events():
			if !ok {
				s.out.Flush()
				if s.r.left {
					return nil
				}
				return fmt.Errorf("lost the connection to the daemon: %w", s.cl.Err())
			}
			if groupOf(ev) == s.o.room {
				s.r.handle(ev)
			}
			if err := s.drain(len(s.cl.Events()) == 0 || s.r.left); err != nil {
				return err
			}
			if s.r.left {
				return nil
			}
			if !claimed && claimTimer == nil && s.r.awaiting() {
				claimTimer = time.After(s.o.syncTimeout)
			}
		case c := <-cmds:
			switch c {
			case cmdWho:
				if err := s.printWho(); err != nil {
					return err
				}
			case cmdQuit:
				quit()
			}
		case <-interrupt:
			interrupt = nil
			quit()
		case <-leaveTimer:
			s.warn("left the room without seeing it confirmed within %s", leaveTimeout)
			return s.out.Flush()
		case <-claimTimer:
			claimTimer, claimed = nil, true
			if m, ok := s.r.claim(); ok {
				s.warn("no history within %s: starting without it", s.o.syncTimeout)
				s.snd.send(encodeMessage(m))
			}
		}
	}
}

func groupOf(ev client.Event) string {
	switch ev := ev.(type) {
	case client.Message:
		return ev.Group
	case client.View:
		return ev.Group
	}
	return ""
}

// drain prints the room's lines, queues its messages and reports its warnings; flush
// says whether to flush standard output now (no event is waiting).
func (s *session) drain(flush bool) error {
	lines, sends, warnings := s.r.take()
	for _, w := range warnings {
		s.warn("%s", w)
	}
	for _, m := range sends {
		s.snd.send(encodeMessage(m))
	}
	for _, l := range lines {
		if _, err := s.out.WriteString(l + "\n"); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
	}
	if flush {
		if err := s.out.Flush(); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
	}
	return nil
}

// printWho prints the members of the latest view on one line:
//
//	--- members (2): alice (node 1), bob (node 2) ---
func (s *session) printWho() error {
	ms := s.r.members()
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = fmt.Sprintf("%s (node %d)", nick(m.Name), m.Node)
	}
	fmt.Fprintf(s.out, "--- members (%d): %s ---\n", len(ms), strings.Join(names, ", "))
	if err := s.out.Flush(); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	return nil
}

func encodeMessage(m message) []byte {
	switch m.Kind {
	case kindText:
		return encodeText(m.Text)
	case kindWant:
		return encodeWant(m.Want)
	case kindHistory:
		return encodeHistory(m.History)
	case kindClaim:
		return encodeClaim(m.Claim)
	}
	panic(fmt.Sprintf("chat: message of kind %d", m.Kind))
}

// readInput reads standard input: a line is a message, sent before the next line is
// read, or a command for the loop. It ends at /quit or the end of input (asking the loop
// to quit), or when the loop is done. Standard input may stay blocked in a read after
// the loop has returned; the goroutine then ends with the next line or the end of input.
func (s *session) readInput(limit int, cmds chan<- command, done <-chan struct{}) {
	tell := func(c command) bool {
		select {
		case cmds <- c:
			return true
		case <-done:
			return false
		}
	}
	br := bufio.NewReaderSize(s.e.stdin, 64<<10)
	for {
		line, long, err := readLine(br, limit)
		if err != nil {
			tell(cmdQuit)
			return
		}
		var text string
		switch {
		case long:
			s.warn("line longer than %d bytes not sent", limit)
			continue
		case line == "/quit":
			tell(cmdQuit)
			return
		case line == "/who":
			if !tell(cmdWho) {
				return
			}
			continue
		case strings.HasPrefix(line, "//"):
			text = line[1:]
		case strings.HasPrefix(line, "/"):
			s.warn("unknown command %s (commands: /who, /quit; start a message with // to send it with a leading /)", oneLine(line))
			continue
		case strings.TrimSpace(line) == "":
			continue
		default:
			text = line
		}
		if err := s.snd.sendWait(encodeText(text)); err != nil {
			if s.cl.Err() != nil { // the connection is gone: the loop reports it
				return
			}
			s.warn("message not sent: %v", err)
		}
	}
}

// readLine reads one line without its line ending. long reports a line longer than limit
// bytes, which is consumed and dropped. A last line without a newline is a line; err is
// set only when no line is left.
func readLine(br *bufio.Reader, limit int) (line string, long bool, err error) {
	var b []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			if len(b)+len(chunk) > limit+2 { // room for "\r\n"
				long, b = true, nil
			} else {
				b = append(b, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil && len(b) == 0 && !long:
			return "", false, err
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if len(s) > limit {
			long = true
		}
		return s, long, nil
	}
}

// sender multicasts the room's messages and leaves, in the order asked, on a goroutine
// of its own: the loop must keep reading events while a multicast waits for the ring.
type sender struct {
	cl    *client.Client
	group string
	warn  func(format string, args ...any)

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}

	mu    sync.Mutex
	queue []sendItem
}

type sendItem struct {
	data   []byte
	leave  bool
	result chan error // if set, gets the outcome
}

func newSender(cl *client.Client, group string, warn func(string, ...any)) *sender {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sender{cl: cl, group: group, warn: warn, ctx: ctx, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	go s.loop()
	return s
}

func (s *sender) push(it sendItem) {
	s.mu.Lock()
	s.queue = append(s.queue, it)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// send queues a message.
func (s *sender) send(data []byte) { s.push(sendItem{data: data}) }

// sendWait multicasts a message after those queued and waits until the daemon has
// accepted it.
func (s *sender) sendWait(data []byte) error {
	res := make(chan error, 1)
	s.push(sendItem{data: data, result: res})
	select {
	case err := <-res:
		return err
	case <-s.done:
		return client.ErrClosed
	}
}

// leave queues the graceful leave, after every message queued before.
func (s *sender) leave() { s.push(sendItem{leave: true}) }

// stop abandons what is still queued and waits for the goroutine.
func (s *sender) stop() {
	s.cancel()
	<-s.done
}

func (s *sender) loop() {
	defer close(s.done)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		it := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		var err error
		if it.leave {
			ctx, cancel := context.WithTimeout(s.ctx, leaveTimeout)
			err = s.cl.Leave(ctx, s.group)
			cancel()
		} else {
			err = s.cl.Multicast(s.ctx, s.group, it.data, client.Agreed)
		}
		switch {
		case it.result != nil:
			it.result <- err
		case err == nil, s.ctx.Err() != nil, s.cl.Err() != nil, errors.Is(err, client.ErrNotJoined):
			// fine, or the loop is ending, or the connection is gone (the loop says
			// so), or the room was left already
		default:
			s.warn("sending to the room: %v", err)
		}
	}
}
