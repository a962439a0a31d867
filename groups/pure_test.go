package groups_test

import (
	"testing"

	"github.com/totem-gcs/totem/totem/totemtest"
)

// TestGroupsArePure: the group layer, and the packing it does, are deterministic state
// machines like ring and membership, so that a simulation can run them too.
func TestGroupsArePure(t *testing.T) {
	totemtest.CheckPure(t, ".")
	totemtest.CheckPure(t, "../totem/pack")
}
