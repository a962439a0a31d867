package main

import (
	"testing"
	"time"
)

// TestMonoIsClockMonotonic: mono, Go's clock extended from one reading, agrees with
// CLOCK_MONOTONIC read by a system call: a reading lies between the mono values
// before and after it, to within the calibration's error.
func TestMonoIsClockMonotonic(t *testing.T) {
	const slack = 50 * time.Microsecond
	for range 100 {
		before := mono()
		c := clockGettime()
		after := mono()
		if c+uint64(slack) < before || c > after+uint64(slack) {
			t.Fatalf("CLOCK_MONOTONIC %d is not within [%d, %d] (+-%v)", c, before, after, slack)
		}
	}
}

func TestSleepUntil(t *testing.T) {
	due := mono() + uint64(2*time.Millisecond)
	sleepUntil(due)
	if now := mono(); now < due {
		t.Fatalf("woke %d ns early", due-now)
	}
	sleepUntil(mono() - 1) // in the past: returns at once
}
