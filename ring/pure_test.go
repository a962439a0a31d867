package ring_test

import (
	"testing"

	"github.com/totem-gcs/totem/internal/simtest"
)

// TestRingIsPure: the ordering protocol is a deterministic state machine; that is what
// lets a simulation replay any failure from its seed.
func TestRingIsPure(t *testing.T) { simtest.CheckPure(t, ".") }
