package totem

import "github.com/totem-gcs/totem/groups"

// The group types are the group layer's (package groups); the node serves them to its
// sessions under these names.
type (
	// Member is one process in a group: a session of some node.
	Member = groups.Member
	// Reason says why a member joined or left a group.
	Reason = groups.Reason
	// Change is a member that joined or left, and why.
	Change = groups.Change
	// View is a group's membership after a change.
	View = groups.View
	// Event is what a session receives: a message of a group it joined, or a view
	// change of such a group.
	Event = groups.Event
)

// The reasons a view gives for each member that joined or left.
const (
	ReasonJoin       = groups.ReasonJoin
	ReasonLeave      = groups.ReasonLeave
	ReasonDisconnect = groups.ReasonDisconnect
	ReasonNodeDown   = groups.ReasonNodeDown
	ReasonNodeUp     = groups.ReasonNodeUp
)

// Limits on names.
const (
	MaxGroupName  = groups.MaxGroupName
	MaxClientName = groups.MaxClientName
)
