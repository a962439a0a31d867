package rsm_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/totem-gcs/totem/multicast/simnet"
	"github.com/totem-gcs/totem/rsm"
	"github.com/totem-gcs/totem/totem"
)

// counter is a replicated state machine: one integer. Its commands are "add N"
// (answering the new value); its query is "get". Apply is deterministic, as every
// replica must compute the same results from the same commands.
type counter struct{ value int64 }

func (c *counter) Apply(cmd []byte) []byte {
	if n, err := strconv.ParseInt(strings.TrimPrefix(string(cmd), "add "), 10, 64); err == nil {
		c.value += n
	}
	return []byte(strconv.FormatInt(c.value, 10))
}

func (c *counter) Query([]byte) []byte { return []byte(strconv.FormatInt(c.value, 10)) }

func (c *counter) Snapshot(w io.Writer) error {
	_, err := io.WriteString(w, strconv.FormatInt(c.value, 10))
	return err
}

func (c *counter) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err == nil {
		c.value, err = strconv.ParseInt(string(b), 10, 64)
	}
	return err
}

// A replica of a counter on an embedded node (one node, one expected replica, on an
// in-memory transport). Propose applies a command in the group's agreed order and
// returns its result; Read is linearizable. A new replica serves only once it has
// seen its view and run the state exchange, so this waits for Status().Ready; callers
// that do not wait get ErrNotReady or ErrNoQuorum, which are worth retrying.
func ExampleNew() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	tr := simnet.New(1, simnet.Config{}).Endpoint(1, 0)
	defer tr.Close()
	node, err := totem.New(totem.DefaultConfig(1), tr)
	if err != nil {
		fmt.Println(err)
		return
	}
	nodeCtx, stopNode := context.WithCancel(ctx)
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- node.Run(nodeCtx) }()
	defer func() { stopNode(); <-nodeDone }()

	// The replica's group connection: here an embedded node's session; over the
	// daemon's socket, a client.Client does the same (both are client.Conn).
	s, err := node.Open(ctx, 1234, "counter replica")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close() // after Run has returned: deferred calls run last-in first-out
	ch, err := rsm.JoinGroup(ctx, s, "counter")
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := rsm.New(rsm.Config{Replicas: 1}, &counter{}, ch)
	if err != nil {
		fmt.Println(err)
		return
	}
	repCtx, stopReplica := context.WithCancel(ctx)
	repDone := make(chan error, 1)
	go func() { repDone <- r.Run(repCtx) }()
	defer func() { stopReplica(); <-repDone }()

	if err := waitServing(ctx, r); err != nil {
		fmt.Println(err)
		return
	}
	for _, cmd := range []string{"add 5", "add -2"} {
		res, err := r.Propose(ctx, []byte(cmd))
		fmt.Printf("%s -> %s %v\n", cmd, res, err)
	}
	val, err := r.Read(ctx, []byte("get"))
	fmt.Printf("get -> %s %v\n", val, err)
	st := r.Status()
	fmt.Println("replicas:", len(st.Members), "applied:", st.Applied)
	// Output:
	// add 5 -> 5 <nil>
	// add -2 -> 3 <nil>
	// get -> 3 <nil>
	// replicas: 1 applied: 2
}

// waitServing polls the replica's status until it serves, or ctx ends.
func waitServing(ctx context.Context, r *rsm.Replica) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !r.Status().Ready {
		select {
		case <-ctx.Done():
			return errors.New("replica not serving: " + ctx.Err().Error())
		case <-r.Done():
			return rsm.ErrStopped
		case <-tick.C:
		}
	}
	return nil
}
