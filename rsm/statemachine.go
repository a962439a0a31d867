package rsm

import "io"

// StateMachine is the application's state, replicated by a Replica.
//
// Goroutine rules: a Replica calls Apply, Snapshot, Restore (and Query, see Querier)
// only from the goroutine running Replica.Run, one call at a time, never concurrently.
// The state machine needs no locks of its own unless the application also reads it from
// other goroutines.
//
// Every replica must start from the same initial state: a new cluster's replicas all
// start from it (see Config.Replicas), later ones are handed a snapshot.
type StateMachine interface {
	// Apply applies one command and returns its result. It must be deterministic: the
	// same commands in the same order from the same state give the same states and
	// results at every replica (no clocks, randomness, map iteration order, or I/O whose
	// outcome can differ). The replica keeps cmd's slice for no one else; the result is
	// cached for duplicate suppression and must not be modified afterwards.
	Apply(cmd []byte) []byte
	// Snapshot writes the whole state to w. Nothing is applied while it runs, so it
	// captures the state at one exact point of the command order.
	Snapshot(w io.Writer) error
	// Restore replaces the whole state with one that Snapshot wrote.
	Restore(r io.Reader) error
}

// Querier is an optional interface of a StateMachine: Query answers a read-only query
// from the current state without changing it. With it, Replica.Read evaluates the query
// at the one replica that was asked, at the read's place in the agreed order; without
// it, Read applies the query as a command at every replica.
type Querier interface {
	Query(query []byte) []byte
}
