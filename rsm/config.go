package rsm

import (
	"errors"
	"log/slog"
)

// Config configures a Replica.
type Config struct {
	// Replicas is the expected number of replicas (like Corosync's expected votes). A
	// replica applies writes and answers reads only while its view of the group holds a
	// strict majority of it; a new cluster starts only once all of them are present.
	Replicas int
	// ChunkSize bounds one snapshot message. Default 256 KiB; it must fit the channel's
	// largest message (1 MiB by default) with a little room for the header.
	ChunkSize int
	// MaxTransfer bounds what a replica taking a state transfer holds besides its state:
	// the snapshot's bytes received so far plus the commands and reads ordered after the
	// cut, kept until the snapshot is complete. Past it Run fails with
	// ErrTransferTooLarge rather than exhaust memory (restart the replica, or raise the
	// bound). Default 1 GiB.
	MaxTransfer int
	// ClientID identifies this replica's own proposals for duplicate suppression. Zero
	// picks a random one, which is what a replica that restarts empty needs: it must not
	// reuse the sequence numbers of an earlier life.
	ClientID uint64
	// Instance tags this run of the replica in its ballots, so that a replica restarted
	// with the same member identity never repeats one of an earlier life. Zero picks a
	// random one; a simulation that must replay from its seed sets it.
	Instance uint64
	// MaxClients bounds the clients the duplicate cache remembers. Default 1024.
	MaxClients int
	// ResultsPerClient bounds the results cached per client. Default 128: at least the
	// number of commands one client (this replica's Propose callers together) has in
	// flight at once.
	ResultsPerClient int
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

const (
	defaultChunkSize        = 256 << 10
	defaultMaxTransfer      = 1 << 30
	defaultMaxClients       = 1024
	defaultResultsPerClient = 128
)

func (c *Config) validate() error {
	if c.Replicas < 1 {
		return errors.New("rsm: config: Replicas must be at least 1")
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = defaultChunkSize
	}
	if c.MaxTransfer <= 0 {
		c.MaxTransfer = defaultMaxTransfer
	}
	if c.MaxClients <= 0 {
		c.MaxClients = defaultMaxClients
	}
	if c.ResultsPerClient <= 0 {
		c.ResultsPerClient = defaultResultsPerClient
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
