package totem

import (
	"errors"

	"github.com/totem-gcs/totem/groups"
)

// Errors a session's calls return. Callers match them with errors.Is.
var (
	ErrClosed        = errors.New("totem: session closed")
	ErrNodeStopped   = errors.New("totem: node stopped")
	ErrNotJoined     = groups.ErrNotJoined
	ErrAlreadyJoined = groups.ErrAlreadyJoined
	ErrTooLarge      = errors.New("totem: message too large")
	ErrBadGroup      = errors.New("totem: bad group name")
	ErrSlowConsumer  = errors.New("totem: session fell too far behind reading its events")
)
