package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
)

// counter is the replicated state machine: one int64. Commands and results are text so
// that they read well in logs: "add N" answers the new value, the query "get" answers
// the value. A command that does not parse, or would overflow, changes nothing and
// answers "error: ..." — deterministically, so every replica answers the same.
type counter struct {
	value   atomic.Int64  // written by the replica's loop, read by the display too
	changed chan struct{} // capacity 1: poked after every change, for the display
}

func newCounter() *counter { return &counter{changed: make(chan struct{}, 1)} }

func addCommand(n int64) []byte { return []byte("add " + strconv.FormatInt(n, 10)) }

var getQuery = []byte("get")

// Apply implements rsm.StateMachine.
func (c *counter) Apply(cmd []byte) []byte {
	op, arg, _ := strings.Cut(string(cmd), " ")
	if op != "add" {
		return []byte(fmt.Sprintf("error: unknown command %q", op))
	}
	n, err := strconv.ParseInt(arg, 10, 64)
	if err != nil {
		return []byte(fmt.Sprintf("error: bad number %q", arg))
	}
	v := c.value.Load()
	if (n > 0 && v > math.MaxInt64-n) || (n < 0 && v < math.MinInt64-n) {
		return []byte("error: the counter would overflow")
	}
	c.set(v + n)
	return strconv.AppendInt(nil, v+n, 10)
}

// Query implements rsm.Querier.
func (c *counter) Query(q []byte) []byte {
	if string(q) != string(getQuery) {
		return []byte(fmt.Sprintf("error: unknown query %q", q))
	}
	return strconv.AppendInt(nil, c.value.Load(), 10)
}

// Snapshot implements rsm.StateMachine.
func (c *counter) Snapshot(w io.Writer) error {
	_, err := io.WriteString(w, strconv.FormatInt(c.value.Load(), 10))
	return err
}

// Restore implements rsm.StateMachine.
func (c *counter) Restore(r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, 64))
	if err != nil {
		return err
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("counter snapshot %q: %w", b, err)
	}
	c.set(v)
	return nil
}

func (c *counter) set(v int64) {
	c.value.Store(v)
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// resultErr turns a result that reports an error into one.
func resultErr(res []byte) error {
	if msg, ok := strings.CutPrefix(string(res), "error: "); ok {
		return fmt.Errorf("%s", msg)
	}
	return nil
}
