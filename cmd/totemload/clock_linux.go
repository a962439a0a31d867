package main

import (
	"time"

	"golang.org/x/sys/unix"
)

// The clock is CLOCK_MONOTONIC, which every process (and network namespace) of a host
// shares, so that a receiver can subtract a sender's time stamp from its own.
//
// unix.ClockGettime is a real system call (about 0.3 µs here, ten times Go's clock).
// Go's monotonic clock is the same CLOCK_MONOTONIC, read through the vDSO, so the
// clock is read once with ClockGettime and extended with Go's monotonic time since
// then: the same values, at the cost of time.Since, to within the calibration's
// error (half the tightest bracket of the read, well below a microsecond).
var clockBase struct {
	at time.Time // Go's clock when CLOCK_MONOTONIC read ns
	ns uint64
}

func init() {
	best := time.Duration(1 << 62)
	for range 16 {
		before := time.Now()
		ns := clockGettime()
		gap := time.Since(before)
		if gap < best {
			best = gap
			clockBase.at, clockBase.ns = before.Add(gap/2), ns
		}
	}
}

// clockGettime reads CLOCK_MONOTONIC with a system call.
func clockGettime() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("totemload: clock_gettime(CLOCK_MONOTONIC): " + err.Error())
	}
	return uint64(ts.Nano())
}

// mono is CLOCK_MONOTONIC in nanoseconds.
func mono() uint64 { return clockBase.ns + uint64(time.Since(clockBase.at)) }

// sleepUntil sleeps until CLOCK_MONOTONIC reaches t. It blocks its thread in
// clock_nanosleep(TIMER_ABSTIME): Go's timers wake up to a millisecond late here,
// which would add to every latency an open-loop sender measures.
func sleepUntil(t uint64) {
	ts := unix.NsecToTimespec(int64(t))
	for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil) == unix.EINTR {
	}
}
