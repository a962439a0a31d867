package simtest

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// Environment variables that steer simulation tests:
//
//	TOTEM_SIM_SEEDS=N   run N seeds (default: the test's own count)
//	TOTEM_SIM_SEED=S    run only seed S (replay a failure)
//	TOTEM_SIM_BASE=B    first seed of the range (default 1), to explore new seeds
const (
	EnvSeeds = "TOTEM_SIM_SEEDS"
	EnvSeed  = "TOTEM_SIM_SEED"
	EnvBase  = "TOTEM_SIM_BASE"
)

// Seeds returns the seeds a simulation test should run: one replayed seed if
// TOTEM_SIM_SEED is set, otherwise TOTEM_SIM_SEEDS (or defaultCount) consecutive seeds
// from TOTEM_SIM_BASE (or 1). Malformed values fail the test.
func Seeds(tb testing.TB, defaultCount int) []uint64 {
	tb.Helper()
	if s := os.Getenv(EnvSeed); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			tb.Fatalf("%s=%q: %v", EnvSeed, s, err)
		}
		return []uint64{seed}
	}
	count := uint64(defaultCount)
	if s := os.Getenv(EnvSeeds); s != "" {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			tb.Fatalf("%s=%q: %v", EnvSeeds, s, err)
		}
		count = n
	}
	base := uint64(1)
	if s := os.Getenv(EnvBase); s != "" {
		b, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			tb.Fatalf("%s=%q: %v", EnvBase, s, err)
		}
		base = b
	}
	seeds := make([]uint64, count)
	for i := range seeds {
		seeds[i] = base + uint64(i)
	}
	return seeds
}

// ReplayCommand is the shell command that re-runs one seed of a simulation test.
func ReplayCommand(pkg, test string, seed uint64) string {
	return fmt.Sprintf("%s=%d go test %s -run '^%s$' -count=1 -v", EnvSeed, seed, pkg, test)
}
