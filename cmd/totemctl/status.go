package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/totem-gcs/totem/totem/client"
)

// jsonFlag is --json; a new one for each command, as urfave/cli flags keep state.
func jsonFlag() cli.Flag { return &cli.BoolFlag{Name: "json", Usage: "print JSON instead of text"} }

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the node's id, protocol state, ring id and ring members",
		Description: "With --json: {\"node_id\":1,\"state\":\"operational\",\"ring_id\":\"1.8\",\"members\":[1,2,3]}\n" +
			"state is operational, gather, commit or recovery; ring_id is REP.SEQ.",
		Flags:  []cli.Flag{jsonFlag()},
		Action: withClient(status),
	}
}

func groupsCommand() *cli.Command {
	return &cli.Command{
		Name:  "groups",
		Usage: "list the groups the daemon knows, with their member count",
		Description: "With --json, an array of {\"group\":G,\"members\":[MEMBER...]} sorted by name,\n" +
			"where MEMBER is {\"node\":1,\"pid\":42,\"session\":3,\"name\":\"...\"}.",
		Flags:  []cli.Flag{jsonFlag()},
		Action: withClient(groups),
	}
}

func membersCommand() *cli.Command {
	return &cli.Command{
		Name:  "members",
		Usage: "list the members of every group, or of one",
		Description: "One member per line: group, node, pid, session, name. With --json, an array of\n" +
			"{\"group\":G,\"node\":1,\"pid\":42,\"session\":3,\"name\":\"...\"}.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "group", Usage: "only this `GROUP`"},
			jsonFlag(),
		},
		Action: withClient(members),
	}
}

// withClient runs a query command with a connection that it closes afterwards.
func withClient(query func(context.Context, *cli.Context, *client.Client) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usagef("%s takes no arguments, got %q", c.Command.Name, c.Args().Slice())
		}
		cl, err := dial(c)
		if err != nil {
			return err
		}
		drained := drain(cl) // no group is joined, so nothing should come; stay correct if it does
		defer func() {
			cl.Close()
			<-drained
		}()
		ctx, cancel := context.WithTimeout(c.Context, dialTimeout)
		defer cancel()
		return query(ctx, c, cl)
	}
}

// statusJSON is status --json; scripts rely on its keys.
type statusJSON struct {
	NodeID  client.NodeID   `json:"node_id"`
	State   string          `json:"state"`
	RingID  string          `json:"ring_id"`
	Members []client.NodeID `json:"members"`
	// RotationUS is the token rotation time in microseconds; 0 when unknown.
	RotationUS int64 `json:"rotation_us"`
	// Security is "authenticated" or "unauthenticated"; AuthFailures the datagrams
	// dropped for failing authentication.
	Security     string `json:"security"`
	AuthFailures uint64 `json:"auth_failures"`
	// Replayed and DuplicateID count datagrams dropped as replays and as sent by a
	// second node with a member's id.
	Replayed    uint64 `json:"replayed"`
	DuplicateID uint64 `json:"duplicate_id"`
}

func status(ctx context.Context, c *cli.Context, cl *client.Client) error {
	st, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	out := statusJSON{NodeID: st.NodeID, State: st.State, RingID: st.Ring.String(), Members: st.Members,
		RotationUS: st.Rotation.Microseconds(), Security: st.Security, AuthFailures: st.AuthFailures,
		Replayed: st.Replayed, DuplicateID: st.DuplicateID}
	if out.Members == nil {
		out.Members = []client.NodeID{}
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, out)
	}
	return table(c.App.Writer, func(w io.Writer) {
		fmt.Fprintf(w, "node id\t%d\n", out.NodeID)
		fmt.Fprintf(w, "state\t%s\n", out.State)
		fmt.Fprintf(w, "ring id\t%s\n", out.RingID)
		fmt.Fprintf(w, "members\t%s\n", joinIDs(out.Members))
		if out.Security == "unauthenticated" {
			fmt.Fprintf(w, "security\tunauthenticated (no key: datagrams are only checksummed)\n")
		} else if out.Security != "" {
			fmt.Fprintf(w, "security\t%s\n", out.Security)
		}
		if out.AuthFailures > 0 {
			fmt.Fprintf(w, "auth failures\t%d datagrams (another key, or forged: see the daemon's log)\n", out.AuthFailures)
		}
		if out.Replayed > 0 {
			fmt.Fprintf(w, "replayed\t%d datagrams dropped (copies of earlier ones: see the daemon's log)\n", out.Replayed)
		}
		if out.DuplicateID > 0 {
			fmt.Fprintf(w, "duplicate node id\t%d datagrams dropped (two nodes use one --node-id: see the daemon's log)\n", out.DuplicateID)
		}
		if st.Rotation > 0 {
			fmt.Fprintf(w, "token rotation\t%s\n", st.Rotation.Round(time.Microsecond))
		}
	})
}

// memberInfo is a group member as groups and members print it: everything the daemon
// says about it.
type memberInfo struct {
	Group   string        `json:"group,omitempty"`
	Node    client.NodeID `json:"node"`
	PID     uint32        `json:"pid"`
	Session uint32        `json:"session"`
	Name    string        `json:"name"`
}

type groupJSON struct {
	Group   string       `json:"group"`
	Members []memberInfo `json:"members"`
}

func infoOf(group string, m client.Member) memberInfo {
	return memberInfo{Group: group, Node: m.Node, PID: m.PID, Session: m.Session, Name: m.Name}
}

func groups(ctx context.Context, c *cli.Context, cl *client.Client) error {
	gs, err := cl.Groups(ctx)
	if err != nil {
		return err
	}
	out := make([]groupJSON, 0, len(gs))
	for _, g := range gs {
		ms := make([]memberInfo, 0, len(g.Members))
		for _, m := range g.Members {
			ms = append(ms, infoOf("", m))
		}
		out = append(out, groupJSON{Group: g.Name, Members: ms})
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, out)
	}
	return table(c.App.Writer, func(w io.Writer) {
		fmt.Fprintln(w, "GROUP\tMEMBERS")
		for _, g := range out {
			fmt.Fprintf(w, "%s\t%d\n", g.Group, len(g.Members))
		}
	})
}

func members(ctx context.Context, c *cli.Context, cl *client.Client) error {
	out, err := memberList(ctx, cl, c.String("group"))
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, out)
	}
	return table(c.App.Writer, func(w io.Writer) {
		fmt.Fprintln(w, "GROUP\tNODE\tPID\tSESSION\tNAME")
		for _, m := range out {
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\n", m.Group, m.Node, m.PID, m.Session, m.Name)
		}
	})
}

// memberList lists the members of group, or of every group when group is "".
func memberList(ctx context.Context, cl *client.Client, group string) ([]memberInfo, error) {
	out := []memberInfo{}
	if group != "" {
		ms, err := cl.Members(ctx, group)
		for _, m := range ms {
			out = append(out, infoOf(group, m))
		}
		return out, err
	}
	gs, err := cl.Groups(ctx)
	for _, g := range gs {
		for _, m := range g.Members {
			out = append(out, infoOf(g.Name, m))
		}
	}
	return out, err
}

// writeJSON writes v as one line of JSON, without HTML escaping (these are not web
// pages, and scripts compare the text).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table writes aligned columns.
func table(w io.Writer, rows func(io.Writer)) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows(tw)
	return tw.Flush()
}

func joinIDs(ids []client.NodeID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, " ")
}
