package membership_test

import (
	"testing"

	"github.com/totem-gcs/totem/totem/totemtest"
)

// TestMembershipIsPure: the membership protocol is a deterministic state machine; that is what
// lets a simulation replay any failure from its seed.
func TestMembershipIsPure(t *testing.T) { totemtest.CheckPure(t, ".") }
