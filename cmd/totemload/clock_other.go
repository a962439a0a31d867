//go:build !linux

package main

import "time"

// Without Linux's CLOCK_MONOTONIC shared by all processes, the wall clock stands in:
// processes of one host share it too, but it may be stepped.

func mono() uint64 { return uint64(time.Now().UnixNano()) }

func sleepUntil(t uint64) {
	if now := mono(); t > now {
		time.Sleep(time.Duration(t - now))
	}
}
