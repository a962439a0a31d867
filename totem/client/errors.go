package client

import (
	"errors"
	"fmt"

	"github.com/totem-gcs/totem/totem/proto"
)

// Errors the client's calls return, matched with errors.Is. The daemon's error codes map
// to them (see Error); the rest are the client's own.
var (
	// ErrDaemonGone: the daemon could not be reached, or the connection to it was lost.
	// When the daemon said why before it closed, the error also matches that reason
	// (ErrSlowConsumer, ErrShuttingDown, ...).
	ErrDaemonGone = errors.New("client: daemon gone")
	// ErrClosed: Close was called.
	ErrClosed = errors.New("totem: closed")
	// ErrProtocol: the daemon sent something this client cannot understand.
	ErrProtocol = errors.New("client: protocol error")

	// The errors of the group calls, the same for a Client and an embedded session
	// (Conn): totem's ErrNotJoined, ErrAlreadyJoined, ErrTooLarge and ErrBadGroup are
	// these.
	ErrNotJoined     = errors.New("totem: group not joined")
	ErrAlreadyJoined = errors.New("totem: group already joined")
	ErrTooLarge      = errors.New("totem: message too large")
	ErrBadGroup      = errors.New("totem: bad group name")

	ErrBadLevel         = errors.New("client: service level not offered")
	ErrBadRequest       = errors.New("client: bad request")
	ErrUnknownRequest   = errors.New("client: request unknown to the daemon")
	ErrPermissionDenied = errors.New("client: permission denied")
	ErrVersion          = errors.New("client: no common protocol version")
	ErrSlowConsumer     = errors.New("totem: fell too far behind reading events")
	ErrShuttingDown     = errors.New("client: daemon shutting down")
	ErrTimeout          = errors.New("client: handshake timed out")
	ErrInternal         = errors.New("client: daemon internal error")
)

var codeErrors = map[string]error{
	proto.CodeNotJoined:        ErrNotJoined,
	proto.CodeAlreadyJoined:    ErrAlreadyJoined,
	proto.CodeTooLarge:         ErrTooLarge,
	proto.CodeFrameTooLarge:    ErrTooLarge,
	proto.CodeBadGroup:         ErrBadGroup,
	proto.CodeBadLevel:         ErrBadLevel,
	proto.CodeBadRequest:       ErrBadRequest,
	proto.CodeUnknownRequest:   ErrUnknownRequest,
	proto.CodeHelloRequired:    ErrBadRequest,
	proto.CodePermissionDenied: ErrPermissionDenied,
	proto.CodeBadVersion:       ErrVersion,
	proto.CodeSlowConsumer:     ErrSlowConsumer,
	proto.CodeShuttingDown:     ErrShuttingDown,
	proto.CodeTimeout:          ErrTimeout,
	proto.CodeInternal:         ErrInternal,
}

// Error is an error the daemon reported. It matches (errors.Is) the sentinel of its
// code; errors.As gives the code and the daemon's message.
type Error struct {
	Code    string // the protocol's error code, e.g. "not_joined"
	Message string // the daemon's explanation
	Fatal   bool   // the daemon closed the connection after it
}

// Error returns "daemon: code: message".
func (e *Error) Error() string { return fmt.Sprintf("daemon: %s: %s", e.Code, e.Message) }

// Is reports whether target is the sentinel of e's code.
func (e *Error) Is(target error) bool {
	s, ok := codeErrors[e.Code]
	return ok && s == target
}

func errorOf(f *proto.ServerFrame) *Error {
	return &Error{Code: f.Code, Message: f.Message, Fatal: f.Fatal}
}
