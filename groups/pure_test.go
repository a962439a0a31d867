package groups_test

import (
	"testing"

	"github.com/totem-gcs/totem/internal/simtest"
)

// TestGroupsArePure: the group layer, and the packing it does, are deterministic state
// machines like ring and membership, so that a simulation can run them too.
func TestGroupsArePure(t *testing.T) {
	simtest.CheckPure(t, ".")
	simtest.CheckPure(t, "../totem/pack")
}
