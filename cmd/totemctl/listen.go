package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/totem-gcs/totem/internal/cliutil"
	"github.com/totem-gcs/totem/totem/client"
)

func listenCommand() *cli.Command {
	return &cli.Command{
		Name:  "listen",
		Usage: "join a group and print its views and messages as they are delivered",
		Description: "Text: one line per event. With --json, one object per line:\n" +
			`  {"type":"view","group":G,"members":[{"node":1,"pid":42}...],"joined":[...],"left":[...]}` + "\n" +
			`  {"type":"message","group":G,"sender":{"node":1,"pid":42},"safe":false,"data":"TEXT"}` + "\n" +
			"joined and left entries are members with a \"reason\" key added: join or node-up in\n" +
			"joined; leave, disconnect or node-down in left. data is the message as text (bytes\n" +
			"that are not UTF-8 become U+FFFD).\n" +
			"Exits after --count messages (views do not count) or at --timeout: with status 0 on\n" +
			"timeout when --count was not given, 1 when fewer than --count messages came.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "group", Usage: "the `GROUP` to join (required)"},
			jsonFlag(),
			&cli.IntFlag{Name: "count", Usage: "exit after `N` messages", DefaultText: "no limit"},
			&cli.DurationFlag{Name: "timeout", Usage: "exit after `DURATION`", DefaultText: "no limit"},
		},
		Action: listen,
	}
}

func listen(c *cli.Context) error {
	group, count, timeout := c.String("group"), c.Int("count"), c.Duration("timeout")
	switch {
	case group == "":
		return cliutil.Usagef("listen: --group is required")
	case c.IsSet("count") && count <= 0:
		return cliutil.Usagef("listen: --count must be at least 1")
	case timeout < 0:
		return cliutil.Usagef("listen: --timeout must not be negative")
	case c.NArg() > 0:
		return cliutil.Usagef("listen takes no arguments, got %q", c.Args().Slice())
	}
	ctx, cancel := withTimeout(c.Context, timeout)
	defer cancel()
	cl, err := dial(c)
	if err != nil {
		return err
	}
	defer leave(cl, group)
	if err := cl.Join(ctx, group); err != nil {
		return err
	}
	p := &printer{w: bufio.NewWriter(c.App.Writer), json: c.Bool("json")}
	got, err := p.run(ctx, cl, count)
	if ferr := p.w.Flush(); err == nil {
		err = ferr
	}
	switch {
	case ctx.Err() == nil || err != ctx.Err():
		return err
	case count > 0:
		return fmt.Errorf("listen: %d of %d messages before the %s", got, count, stopCause(c.Context))
	}
	return nil // a timeout or an interrupt ends an open-ended listen normally
}

// stopCause says why a listen ended early: the parent context ends only on a signal.
func stopCause(parent context.Context) string {
	if parent.Err() != nil {
		return "interrupt"
	}
	return "timeout"
}

// printer prints events. It flushes whenever no further event is waiting, so that a
// reader of a pipe sees each event promptly without a write per event under load.
type printer struct {
	w    *bufio.Writer
	json bool
}

// run prints events until count messages (0: no limit), the end of ctx (returns
// ctx.Err()) or the end of the connection.
func (p *printer) run(ctx context.Context, cl *client.Client, count int) (int, error) {
	got := 0
	for count == 0 || got < count {
		select {
		case ev, ok := <-cl.Events():
			if !ok {
				return got, fmt.Errorf("listen: connection lost: %w", cl.Err())
			}
			if _, isMsg := ev.(client.Message); isMsg {
				got++
			}
			if err := p.print(ev); err != nil {
				return got, err
			}
			if len(cl.Events()) > 0 {
				continue
			}
			if err := p.w.Flush(); err != nil {
				return got, fmt.Errorf("listen: writing: %w", err)
			}
		case <-ctx.Done():
			return got, ctx.Err()
		}
	}
	return got, nil
}

func (p *printer) print(ev client.Event) error {
	if p.json {
		return writeJSON(p.w, eventJSON(ev))
	}
	_, err := io.WriteString(p.w, eventText(ev)+"\n")
	return err
}

// memberJSON is a member in listen --json: the keys scripts rely on.
type memberJSON struct {
	Node client.NodeID `json:"node"`
	PID  uint32        `json:"pid"`
}

// changeJSON is a joined or left entry: a member and why.
type changeJSON struct {
	Node   client.NodeID `json:"node"`
	PID    uint32        `json:"pid"`
	Reason string        `json:"reason,omitempty"`
}

type viewJSON struct {
	Type    string       `json:"type"`
	Group   string       `json:"group"`
	Members []memberJSON `json:"members"`
	Joined  []changeJSON `json:"joined"`
	Left    []changeJSON `json:"left"`
}

type messageJSON struct {
	Type   string     `json:"type"`
	Group  string     `json:"group"`
	Sender memberJSON `json:"sender"`
	Safe   bool       `json:"safe"`
	Data   string     `json:"data"`
}

// eventJSON is the object listen --json prints for ev; arrays are never null.
func eventJSON(ev client.Event) any {
	switch ev := ev.(type) {
	case client.Message:
		return messageJSON{Type: "message", Group: ev.Group, Sender: memberJSON{ev.Sender.Node, ev.Sender.PID}, Safe: ev.Safe, Data: string(ev.Data)}
	case client.View:
		v := viewJSON{Type: "view", Group: ev.Group, Members: []memberJSON{}, Joined: changesJSON(ev.Joined), Left: changesJSON(ev.Left)}
		for _, m := range ev.Members {
			v.Members = append(v.Members, memberJSON{m.Node, m.PID})
		}
		return v
	}
	return nil
}

func changesJSON(cs []client.Change) []changeJSON {
	out := make([]changeJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, changeJSON{c.Member.Node, c.Member.PID, string(c.Reason)})
	}
	return out
}

// eventText is one readable line:
//
//	view G: 2 members 1/42 2/77; joined 2/77 (join)
//	message G from 1/42: TEXT
func eventText(ev client.Event) string {
	switch ev := ev.(type) {
	case client.Message:
		kind := "message"
		if ev.Safe {
			kind = "safe message"
		}
		return fmt.Sprintf("%s %s from %s: %s", kind, ev.Group, memberText(ev.Sender), readable(ev.Data))
	case client.View:
		var b strings.Builder
		fmt.Fprintf(&b, "view %s: %d members", ev.Group, len(ev.Members))
		for _, m := range ev.Members {
			b.WriteString(" " + memberText(m))
		}
		writeChanges(&b, "joined", ev.Joined)
		writeChanges(&b, "left", ev.Left)
		return b.String()
	}
	return ""
}

func writeChanges(b *strings.Builder, what string, cs []client.Change) {
	if len(cs) == 0 {
		return
	}
	b.WriteString("; " + what)
	for _, c := range cs {
		fmt.Fprintf(b, " %s (%s)", memberText(c.Member), c.Reason)
	}
}

func memberText(m client.Member) string { return fmt.Sprintf("%d/%d", m.Node, m.PID) }

// readable shows data as is when it is printable text, else quoted, so that one event
// stays one line.
func readable(data []byte) string {
	s := string(data)
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !strconv.IsPrint(r) && r != ' ' && r != '\t' }) {
		return s
	}
	return strconv.Quote(s)
}
