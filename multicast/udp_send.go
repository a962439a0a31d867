package multicast

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"

	"golang.org/x/net/ipv4"

	"github.com/totem-gcs/totem/multicast/wire"
)

// Multicast implements Transport. In udpu mode it is one datagram per peer, sealed once
// and handed to the kernel in one sendmmsg.
func (u *UDP) Multicast(b []byte) error {
	if err := u.checkSend(b); err != nil {
		return err
	}
	if u.udpu {
		return u.sendBatch([][]byte{b}, u.fanout)
	}
	return u.sendOne(b, u.cfg.Mcast)
}

// Unicast implements Transport. A datagram to ourselves (the token of a single-node ring)
// never touches the network: it is queued on Packets directly, since a copy coming back
// from the network would be indistinguishable from our own multicast echo.
func (u *UDP) Unicast(to wire.NodeID, b []byte) error {
	if err := u.checkSend(b); err != nil {
		return err
	}
	if to == u.cfg.NodeID {
		return u.deliverSelf(b)
	}
	p, ok := u.lookup(to)
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownNode, to)
	}
	return u.sendOne(b, p.ap)
}

// MulticastBatch multicasts every datagram of bufs, in order, with as few system calls as
// the OS allows (sendmmsg), so that a token visit's worth of messages costs one syscall.
// Nothing is sent if any datagram exceeds MaxPayload. After an OS error on one datagram
// the rest are still sent; the first error is returned.
func (u *UDP) MulticastBatch(bufs [][]byte) error {
	if err := u.checkSend(bufs...); err != nil {
		return err
	}
	if u.udpu {
		return u.sendBatch(bufs, u.fanout)
	}
	dst := [1]*net.UDPAddr{u.group}
	return u.sendBatch(bufs, dst[:])
}

// UnicastBatch sends every datagram of bufs to one member, like MulticastBatch.
func (u *UDP) UnicastBatch(to wire.NodeID, bufs [][]byte) error {
	if err := u.checkSend(bufs...); err != nil {
		return err
	}
	if to == u.cfg.NodeID {
		return u.deliverSelf(bufs...)
	}
	p, ok := u.lookup(to)
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownNode, to)
	}
	dst := [1]*net.UDPAddr{p.ua}
	return u.sendBatch(bufs, dst[:])
}

func (u *UDP) checkSend(bufs ...[]byte) error {
	if u.closed.Load() {
		return ErrClosed
	}
	for _, b := range bufs {
		if len(b) > u.maxPayload {
			return fmt.Errorf("%w: %d bytes, max %d", ErrTooLarge, len(b), u.maxPayload)
		}
	}
	return nil
}

// deliverSelf queues copies of bufs on Packets, as if received from the network.
func (u *UDP) deliverSelf(bufs ...[]byte) error {
	u.closeMu.RLock()
	defer u.closeMu.RUnlock()
	if u.closed.Load() {
		return ErrClosed
	}
	for _, b := range bufs {
		u.enqueue(Packet{From: u.cfg.NodeID, Data: bytes.Clone(b)})
	}
	return nil
}

// sendOne seals b into a pooled buffer and sends it with one sendto (as frames, with
// sendmmsg, when it is larger than one).
func (u *UDP) sendOne(b []byte, dst netip.AddrPort) error {
	if len(b) > u.framePayload {
		d := [1]*net.UDPAddr{net.UDPAddrFromAddrPort(dst)}
		return u.sendBatch([][]byte{b}, d[:])
	}
	bt := u.batches.Get().(*sendBatch)
	bt.arena = u.cfg.Sealer.Seal(bt.arena[:0], b)
	_, err := u.ucast.WriteToUDPAddrPort(bt.arena, dst)
	u.batches.Put(bt)
	if err != nil {
		return u.sendError(err)
	}
	u.st.sent.Add(1)
	return nil
}

// sendBatch seals every datagram once and sends each to every destination.
func (u *UDP) sendBatch(bufs [][]byte, dsts []*net.UDPAddr) error {
	if len(bufs) == 0 || len(dsts) == 0 {
		return nil
	}
	bt := u.batches.Get().(*sendBatch)
	defer u.batches.Put(bt)
	bt.seal(u, bufs)
	bt.address(dsts)
	err := u.writeAll(bt.ms)
	if err != nil && !u.noGSO.Load() && slices.ContainsFunc(bt.segs, func(s int) bool { return s > 0 }) && !errors.Is(err, ErrClosed) {
		// The kernel or the interface may refuse GSO: from now on one send per frame.
		if !u.noGSO.Swap(true) {
			u.log.Warn("udp: segmentation offload refused; sending every frame on its own", "err", err)
		}
	}
	return err
}

// writeAll loops over sendmmsg until every message is handed over. The kernel stops a
// batch at the first failing message: that one is counted and skipped, so one unreachable
// peer does not silence the others. Every iteration consumes at least one message.
func (u *UDP) writeAll(ms []ipv4.Message) error {
	var first error
	for len(ms) > 0 {
		n, err := u.ubatch.WriteBatch(ms, 0)
		n = max(n, 0)
		u.st.sent.Add(uint64(n))
		ms = ms[n:]
		if err == nil && n > 0 {
			continue
		}
		if err == nil {
			err = io.ErrShortWrite
		}
		if errors.Is(err, net.ErrClosed) {
			return ErrClosed
		}
		if first == nil {
			first = u.sendError(err)
		} else {
			u.st.sendErrors.Add(1)
		}
		ms = ms[min(1, len(ms)):]
	}
	return first
}

// sendError counts and wraps an OS send error; a closed socket is reported as ErrClosed.
func (u *UDP) sendError(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return ErrClosed
	}
	u.st.sendErrors.Add(1)
	return fmt.Errorf("multicast: udp: send: %w", err)
}

// sendBatch buffers are pooled: one arena holds every sealed datagram of a batch, and the
// message headers point into it, so a steady stream of batches does not allocate.
type sendBatch struct {
	arena []byte
	ends  []int
	segs  []int  // per send unit: 0 for one datagram, else the GSO segment size of its frames
	frags []byte // plaintext frames of a large datagram
	fends []int
	iov   [][]byte
	oob   []byte // the UDP_SEGMENT control messages, one per GSO unit
	oobAt []int
	ms    []ipv4.Message
}

// GSO limits: the kernel takes at most this many segments, and this many bytes, in one
// send.
const (
	gsoMaxSegments = 64
	gsoMaxBytes    = 65000
)

// seal seals bufs back to back into the arena, a datagram larger than a frame as its
// frames. Where the kernel takes UDP GSO, consecutive frames of a datagram (all but the
// last of the same size) form one send unit that the kernel cuts into datagrams itself,
// far cheaper than one send each. Slices are cut only after the last Seal, because the
// arena may move while it grows.
func (bt *sendBatch) seal(u *UDP, bufs [][]byte) {
	s := u.cfg.Sealer
	bt.arena, bt.ends, bt.segs, bt.iov = bt.arena[:0], bt.ends[:0], bt.segs[:0], bt.iov[:0]
	gso := gsoAvailable && !u.noGSO.Load()
	for _, b := range bufs {
		if len(b) <= u.framePayload {
			bt.arena = s.Seal(bt.arena, b)
			bt.ends = append(bt.ends, len(bt.arena))
			bt.segs = append(bt.segs, 0)
			continue
		}
		bt.frags, bt.fends = fragment(bt.frags[:0], bt.fends[:0], b, u.framePayload, u.cfg.NodeID, u.cfg.Cluster, u.fragID.Add(1))
		start, unitStart, inUnit := 0, len(bt.arena), 0
		seg := u.framePayload + s.Overhead()
		for i, end := range bt.fends {
			bt.arena = s.Seal(bt.arena, bt.frags[start:end])
			start = end
			inUnit++
			last := i == len(bt.fends)-1
			full := inUnit == gsoMaxSegments || len(bt.arena)-unitStart+seg > gsoMaxBytes
			if !gso || last || full {
				bt.ends = append(bt.ends, len(bt.arena))
				if gso && inUnit > 1 {
					bt.segs = append(bt.segs, seg)
				} else {
					bt.segs = append(bt.segs, 0)
				}
				unitStart, inUnit = len(bt.arena), 0
			}
		}
	}
	start := 0
	for _, end := range bt.ends {
		bt.iov = append(bt.iov, bt.arena[start:end:end])
		start = end
	}
}

// address builds one message per send unit and destination, unit-major so that every
// destination gets the first datagram as early as possible.
func (bt *sendBatch) address(dsts []*net.UDPAddr) {
	bt.ms, bt.oob, bt.oobAt = bt.ms[:0], bt.oob[:0], bt.oobAt[:0]
	for _, seg := range bt.segs {
		bt.oobAt = append(bt.oobAt, len(bt.oob))
		if seg > 0 {
			bt.oob = appendSegmentCmsg(bt.oob, seg)
		}
	}
	for i := range bt.iov {
		var oob []byte
		if bt.segs[i] > 0 {
			oob = bt.oob[bt.oobAt[i]:]
			if i+1 < len(bt.oobAt) {
				oob = bt.oob[bt.oobAt[i]:bt.oobAt[i+1]]
			}
		}
		for _, d := range dsts {
			bt.ms = append(bt.ms, ipv4.Message{Buffers: bt.iov[i : i+1 : i+1], OOB: oob, Addr: d})
		}
	}
}
