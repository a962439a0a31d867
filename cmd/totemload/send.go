package main

import (
	"context"
	"time"

	"github.com/totem-gcs/totem/totem/client"
)

const (
	// maxWindow and windowBytes bound the messages written whose answer has not been
	// read: at most maxWindow of them, and about windowBytes (a message counts its size
	// plus windowOverhead for its framing and the kernel's buffer bookkeeping). The
	// byte bound keeps the unanswered messages within the socket's buffer (about
	// 200 KiB by default on Linux), so that a sender ahead of the ring waits for the
	// window, where the wait is seen and counted, rather than in the write.
	maxWindow      = 256
	minWindow      = 8
	windowBytes    = 128 << 10
	windowOverhead = 512
	// stallThreshold: a wait for the window at least this long counts in try_again.
	// It is cpgload's shortest back-off after CS_ERR_TRY_AGAIN.
	stallThreshold = 200 * time.Microsecond
	// maxSleep bounds one sleep of the open-loop sender, as cpgload bounds its waits,
	// so that it notices being stopped.
	maxSleep = 50 * time.Millisecond
)

// windowOf is the window for messages of size bytes.
func windowOf(size uint32) int {
	return min(max(windowBytes/(int(size)+windowOverhead), minWindow), maxWindow)
}

// sendResult is what the sender reports once it has returned.
type sendResult struct {
	sent     uint64 // data messages the daemon accepted
	tryAgain uint64 // waits for the daemon to accept earlier messages (see stallThreshold)
	err      error  // the first failure, or why it was stopped
}

// flight is a message written to the daemon whose answer has not been read yet.
type flight struct {
	p    *client.Pending
	data bool
}

// send multicasts this node's messages, then END with their count. Messages are
// written without waiting for their answers (MulticastAsync), at most a window of them
// unanswered; a second goroutine reads the answers in order. The daemon answers a
// message once the ring has room for it, so a sender ahead of the ring waits for the
// window, in tput mode all the time: a wait of at least stallThreshold counts as a
// try_again, cpgload's count of refusals by a full queue. In lat mode, data message i
// is due at t0 + i/RATE and carries that time: when the sender falls behind, the
// latency it causes is measured (open loop).
func (l *load) send(ctx context.Context, t0, sendDeadline uint64) sendResult {
	cfg := &l.cfg
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	w := windowOf(cfg.size)
	slots := make(chan struct{}, w)    // one per unanswered message
	inflight := make(chan flight, w+1) // never full: slots bound it
	answers := make(chan sendResult, 1)
	go func() { // every Pending is waited for, in order
		var r sendResult
		for f := range inflight {
			err := f.p.Wait(ctx)
			<-slots
			if err != nil {
				if r.err == nil {
					r.err = err
					cancel(err)
				}
				continue
			}
			if f.data {
				r.sent++
			}
		}
		answers <- r
	}()

	var tryAgain uint64
	post := func(msg []byte, kind uint16, seq, ts uint64) error {
		select {
		case slots <- struct{}{}:
		default: // the window is full: wait for the daemon
			start := time.Now()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			if time.Since(start) >= stallThreshold {
				tryAgain++
			}
		}
		h := header{magic: loadMagic, runID: cfg.runID, kind: kind, sender: uint16(cfg.idx),
			size: uint32(len(msg)), seq: seq, ts: ts}
		h.put(msg)
		p, err := l.cl.MulticastAsync(ctx, cfg.group, msg, cfg.level)
		if err != nil {
			<-slots
			return err
		}
		inflight <- flight{p: p, data: kind == kindData}
		return nil
	}

	buf := make([]byte, cfg.size)
	for i := hdrLen; i < len(buf); i++ {
		buf[i] = byte(i*31 + cfg.idx)
	}
	interval := 1e9 / cfg.rate
	var written uint64
	var err error
	for written < cfg.count {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
			break
		}
		now := mono()
		if now >= sendDeadline {
			break
		}
		ts := now
		if cfg.lat {
			due := t0 + uint64(float64(written)*interval)
			if due > now {
				sleepUntil(min(due, now+uint64(maxSleep)))
				continue
			}
			ts = due
		}
		if err = post(buf, kindData, written, ts); err != nil {
			break
		}
		written++
	}
	if err == nil {
		err = post(buf[:hdrLen], kindEnd, written, mono())
	}
	close(inflight)
	r := <-answers
	if r.err == nil { // else the first failed answer is the cause of err too
		r.err = err
	}
	r.tryAgain = tryAgain
	return r
}
