package rsm

import "errors"

// Errors the Replica's calls return; match them with errors.Is. A call also returns its
// context's error when the context ends first.
var (
	// ErrNoQuorum: this replica's view of the group holds no majority of
	// Config.Replicas, so it may not apply writes or answer reads. A Propose that fails
	// with it may or may not have been applied: retry it with the same client id and
	// sequence number (Do) to find out, here later or at another replica.
	ErrNoQuorum = errors.New("rsm: no quorum")
	// ErrNotReady: this replica does not hold the primary component's state yet (a state
	// transfer is pending, or no replica holding the latest state is reachable).
	ErrNotReady = errors.New("rsm: replica not ready")
	// ErrStopped: Run has returned (or was never called).
	ErrStopped = errors.New("rsm: replica stopped")
	// ErrExpired: the command is a duplicate of one already applied whose result is no
	// longer in the duplicate cache (see Config.ResultsPerClient and MaxClients).
	ErrExpired = errors.New("rsm: duplicate command, result no longer cached")
	// ErrTransferTooLarge: Run ended because a state transfer outgrew
	// Config.MaxTransfer.
	ErrTransferTooLarge = errors.New("rsm: state transfer larger than Config.MaxTransfer")
)
