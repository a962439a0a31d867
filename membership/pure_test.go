package membership_test

import (
	"testing"

	"github.com/totem-gcs/totem/internal/simtest"
)

// TestMembershipIsPure: the membership protocol is a deterministic state machine; that is what
// lets a simulation replay any failure from its seed.
func TestMembershipIsPure(t *testing.T) { simtest.CheckPure(t, ".") }
