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

	"github.com/totem-gcs/totem/internal/cliutil"
	"github.com/totem-gcs/totem/totem/client"
	"github.com/totem-gcs/totem/totem/proto"
)

// jsonFlag is --json; a new one for each command, as urfave/cli flags keep state.
func jsonFlag() cli.Flag { return &cli.BoolFlag{Name: "json", Usage: "print JSON instead of text"} }

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:        "status",
		Usage:       "show this node, its ring, every known node (member, missing, unknown), the transport, the key and the timers",
		Description: statusDescription,
		Flags:       []cli.Flag{jsonFlag()},
		Action:      withClient(status),
	}
}

// statusDescription documents the text and the JSON of status (and watch).
const statusDescription = `The text form is a table: this node, its state, ring id, members, token rotation,
transport, key and timers; then one row per node (every configured node, every node
heard, every ring member) with its address, state and when it was last heard; then the
counters of dropped datagrams. STATE is member (in the ring; this node always is),
missing (configured but not in the ring) or unknown (heard but not configured).

With --json, one line (keys never change meaning; new keys may be added):
  {"node_id":1,"state":"operational","ring_id":"1.8","members":[1,2,3],
   "rotation_us":812,"security":"authenticated","auth_failures":0,"replayed":0,
   "duplicate_id":0,"transport":"udpu","key":true,
   "timers":{"token_us":3000000,"token_retransmit_us":714285,"token_retransmit_min_us":4000,
     "hold_us":571428,"fail_to_receive_us":2500000,"consensus_us":3600000,"join_us":50000,
     "merge_us":200000},
   "nodes":[{"node_id":1,"address":"10.0.0.1:5405","state":"member","self":true,
     "configured":true,"heard_ago_us":null}, ...]}
state is operational, gather, commit or recovery; ring_id is REP.SEQ; members are the ring's
node ids; rotation_us is the token rotation time (0: unknown); security is authenticated or
unauthenticated, and key says the same as a boolean; transport is "multicast GROUP:PORT" or
"udpu" ("" from an older daemon); timers are the effective timers in microseconds (0: off);
nodes is sorted by node_id, address is null when unknown, heard_ago_us is how long ago the
node's last datagram arrived (null: never, and for this node).`

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

// openQueryClient connects for a command that joins no group: done closes the
// connection once the events (none should come) are drained.
func openQueryClient(c *cli.Context) (cl *client.Client, done func(), err error) {
	cl, err = dial(c)
	if err != nil {
		return nil, nil, err
	}
	drained := drain(cl) // no group is joined, so nothing should come; stay correct if it does
	return cl, func() { cl.Close(); <-drained }, nil
}

// withClient runs a query command with a connection that it closes afterwards.
func withClient(query func(context.Context, *cli.Context, *client.Client) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() > 0 {
			return cliutil.Usagef("%s takes no arguments, got %q", c.Command.Name, c.Args().Slice())
		}
		cl, done, err := openQueryClient(c)
		if err != nil {
			return err
		}
		defer done()
		ctx, cancel := context.WithTimeout(c.Context, dialTimeout)
		defer cancel()
		return query(ctx, c, cl)
	}
}

// statusJSON is status --json; scripts rely on its keys: add, never change.
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
	// Transport is "multicast GROUP:PORT" or "udpu"; Key: a pre-shared key is in use.
	Transport string     `json:"transport"`
	Key       bool       `json:"key"`
	Timers    timersJSON `json:"timers"`
	Nodes     []nodeJSON `json:"nodes"`
}

// timersJSON are the effective timers in microseconds (0: off).
type timersJSON struct {
	TokenUS              int64 `json:"token_us"`
	TokenRetransmitUS    int64 `json:"token_retransmit_us"`
	TokenRetransmitMinUS int64 `json:"token_retransmit_min_us"`
	HoldUS               int64 `json:"hold_us"`
	FailToReceiveUS      int64 `json:"fail_to_receive_us"`
	ConsensusUS          int64 `json:"consensus_us"`
	JoinUS               int64 `json:"join_us"`
	MergeUS              int64 `json:"merge_us"`
}

// nodeJSON is one node of status --json.
type nodeJSON struct {
	NodeID     client.NodeID `json:"node_id"`
	Address    *string       `json:"address"` // null: unknown
	State      string        `json:"state"`
	Self       bool          `json:"self"`
	Configured bool          `json:"configured"`
	HeardAgoUS *int64        `json:"heard_ago_us"` // null: never heard (and this node)
}

// statusOut is what status prints, as JSON or as text.
func statusOut(st client.Status) statusJSON {
	out := statusJSON{NodeID: st.NodeID, State: st.State, RingID: st.Ring.String(), Members: st.Members,
		RotationUS: st.Rotation.Microseconds(), Security: st.Security, AuthFailures: st.AuthFailures,
		Replayed: st.Replayed, DuplicateID: st.DuplicateID,
		Transport: st.Transport, Key: st.Security == proto.SecurityAuthenticated, Nodes: []nodeJSON{}}
	if out.Members == nil {
		out.Members = []client.NodeID{}
	}
	t := st.Timers
	out.Timers = timersJSON{
		TokenUS: t.Token.Microseconds(), TokenRetransmitUS: t.TokenRetransmit.Microseconds(),
		TokenRetransmitMinUS: t.TokenRetransmitMin.Microseconds(), HoldUS: t.Hold.Microseconds(),
		FailToReceiveUS: t.FailToReceive.Microseconds(), ConsensusUS: t.Consensus.Microseconds(),
		JoinUS: t.Join.Microseconds(), MergeUS: t.Merge.Microseconds(),
	}
	for _, n := range st.Nodes {
		nj := nodeJSON{NodeID: n.ID, State: n.State, Self: n.Self, Configured: n.Configured}
		if n.Addr.IsValid() {
			a := n.Addr.String()
			nj.Address = &a
		}
		if n.Heard {
			us := n.HeardAgo.Microseconds()
			nj.HeardAgoUS = &us
		}
		out.Nodes = append(out.Nodes, nj)
	}
	return out
}

func status(ctx context.Context, c *cli.Context, cl *client.Client) error {
	st, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, statusOut(st))
	}
	return writeStatus(c.App.Writer, st)
}

// writeStatus writes the status table.
func writeStatus(w io.Writer, st client.Status) error {
	out := statusOut(st)
	err := table(w, func(w io.Writer) {
		fmt.Fprintf(w, "node id\t%d\n", out.NodeID)
		fmt.Fprintf(w, "state\t%s\n", out.State)
		fmt.Fprintf(w, "ring id\t%s\n", out.RingID)
		if len(out.Members) == 0 {
			fmt.Fprintf(w, "members\tnone\n")
		} else {
			fmt.Fprintf(w, "members\t%s\n", joinIDs(out.Members))
		}
		if st.Rotation > 0 {
			fmt.Fprintf(w, "token rotation\t%s\n", st.Rotation.Round(time.Microsecond))
		} else {
			fmt.Fprintf(w, "token rotation\tnot measured\n")
		}
		if out.Transport != "" {
			fmt.Fprintf(w, "transport\t%s\n", out.Transport)
		}
		switch out.Security {
		case proto.SecurityUnauthenticated:
			fmt.Fprintf(w, "key\tnone: unauthenticated (datagrams are only checksummed)\n")
		case proto.SecurityAuthenticated:
			fmt.Fprintf(w, "key\tyes: authenticated (every datagram encrypted and authenticated)\n")
		case "":
		default:
			fmt.Fprintf(w, "key\t%s\n", out.Security)
		}
		if st.Timers != (client.Timers{}) {
			fmt.Fprintf(w, "timers\t%s\n", describeTimers(st.Timers))
		}
	})
	if err != nil {
		return err
	}
	if len(st.Nodes) > 0 {
		fmt.Fprintln(w)
		err = table(w, func(w io.Writer) {
			fmt.Fprintln(w, "NODE\tADDRESS\tSTATE\tLAST HEARD")
			for _, n := range st.Nodes {
				addr := "-"
				if n.Addr.IsValid() {
					addr = n.Addr.String()
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", n.ID, addr, n.State, lastHeard(n))
			}
		})
		if err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	return table(w, func(w io.Writer) {
		fmt.Fprintf(w, "auth failures\t%d%s\n", out.AuthFailures, hint(out.AuthFailures, "datagrams of another key, or forged: see the daemon's log"))
		fmt.Fprintf(w, "replayed\t%d%s\n", out.Replayed, hint(out.Replayed, "copies of earlier datagrams dropped: see the daemon's log"))
		fmt.Fprintf(w, "duplicate node id\t%d%s\n", out.DuplicateID, hint(out.DuplicateID, "two nodes use one node id: see the daemon's log"))
	})
}

// hint explains a counter that is not 0.
func hint(n uint64, why string) string {
	if n == 0 {
		return ""
	}
	return " (" + why + ")"
}

// describeTimers lists the timers in one line, the adaptive retransmission floor and
// hold only where they are on.
func describeTimers(t client.Timers) string {
	parts := []string{"token " + short(t.Token)}
	retransmit := "token retransmit " + short(t.TokenRetransmit)
	if t.TokenRetransmitMin > 0 {
		retransmit += " (adaptive, from " + short(t.TokenRetransmitMin) + ")"
	}
	parts = append(parts, retransmit)
	if t.Hold > 0 {
		parts = append(parts, "hold "+short(t.Hold))
	}
	parts = append(parts, "consensus "+short(t.Consensus), "join "+short(t.Join), "merge "+short(t.Merge))
	if t.FailToReceive > 0 {
		parts = append(parts, "fail to receive "+short(t.FailToReceive))
	}
	return strings.Join(parts, ", ")
}

// short prints a timer rounded to what an operator cares about.
func short(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Microsecond).String()
}

// lastHeard says when a node was last heard, as an age.
func lastHeard(n client.NodeInfo) string {
	switch {
	case n.Self:
		return "(this node)"
	case !n.Heard:
		return "never"
	}
	return age(n.HeardAgo) + " ago"
}

// age prints how long ago: tenths of seconds below a minute, then minutes and hours.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
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
