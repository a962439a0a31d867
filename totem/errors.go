package totem

import (
	"errors"

	"github.com/totem-gcs/totem/groups"
	"github.com/totem-gcs/totem/totem/client"
)

// Errors a session's calls return. Callers match them with errors.Is. Those of the
// group calls are the client library's (client.Conn's), so that a program written
// against client.Conn handles them alike over the socket and in process.
var (
	ErrClosed        = client.ErrClosed
	ErrNodeStopped   = errors.New("totem: node stopped")
	ErrNotJoined     = client.ErrNotJoined
	ErrAlreadyJoined = client.ErrAlreadyJoined
	ErrTooLarge      = client.ErrTooLarge
	ErrBadGroup      = client.ErrBadGroup
	ErrSlowConsumer  = client.ErrSlowConsumer
)

// apiError is the group layer's refusal as the session's error.
func apiError(err error) error {
	switch {
	case errors.Is(err, groups.ErrNotJoined):
		return ErrNotJoined
	case errors.Is(err, groups.ErrAlreadyJoined):
		return ErrAlreadyJoined
	case errors.Is(err, groups.ErrNoSession):
		return ErrClosed
	}
	return err
}
