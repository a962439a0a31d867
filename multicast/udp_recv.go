package multicast

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/totem-gcs/totem/multicast/wire"
)

const (
	recvBatch  = 32       // datagrams per recvmmsg
	recvBufLen = 64 << 10 // larger than any UDP datagram, so none is ever truncated
	// readErrorPause keeps a reader from spinning on a persistent socket error.
	readErrorPause = 10 * time.Millisecond
)

func (u *UDP) startReaders() {
	u.wg.Add(1)
	go u.readLoop(u.ubatch, "unicast")
	if u.mbatch != nil {
		u.wg.Add(1)
		go u.readLoop(u.mbatch, "multicast")
	}
}

// newRecvMessages allocates a reader's buffers once: every datagram is opened into a fresh
// plaintext, so the receive buffers themselves are never handed out and can be reused.
func newRecvMessages() []ipv4.Message {
	ms := make([]ipv4.Message, recvBatch)
	arena := make([]byte, recvBatch*recvBufLen)
	for i := range ms {
		ms[i].Buffers = [][]byte{arena[i*recvBufLen : (i+1)*recvBufLen : (i+1)*recvBufLen]}
	}
	return ms
}

// readLoop receives datagrams until the socket is closed.
func (u *UDP) readLoop(c batchConn, name string) {
	defer u.wg.Done()
	ms := newRecvMessages()
	scratch := make([]byte, 0, recvBufLen)
	for {
		n, err := c.ReadBatch(ms, 0)
		var now int64
		if n > 0 {
			now = u.heard.clock() // one clock reading for the batch
		}
		for i := range n {
			u.receive(ms[i].Buffers[0][:ms[i].N], ms[i].Addr, scratch, now)
		}
		if err == nil {
			continue
		}
		if u.closed.Load() || errors.Is(err, net.ErrClosed) {
			return
		}
		u.log.Warn("udp: receive", "socket", name, "err", err)
		time.Sleep(readErrorPause)
	}
}

// receive filters, opens and delivers one datagram. Each check is cheaper than the next;
// nothing that fails to open is parsed any further. It opens into scratch: a frame's
// chunk is copied from there into its datagram, anything else into a plaintext of its
// own. now is the batch's reading of the heard table's clock.
func (u *UDP) receive(datagram []byte, from net.Addr, scratch []byte, now int64) {
	src := sourceOf(from)
	if u.udpu {
		if _, ok := u.allowed[src]; !ok {
			u.st.dropUnknown.Add(1)
			return
		}
	}
	plain, err := u.cfg.Sealer.Open(scratch[:0], datagram)
	if err != nil {
		u.st.dropOpen.Add(1)
		u.authDrops.add(src)
		return
	}
	var ok bool
	var h wire.Header
	if isFrame(plain) {
		if sender, ok := frameSender(plain); ok && !u.fresh(datagram, sender, src) {
			return
		}
		whole, res := u.reasm.add(plain)
		switch res {
		case fragSelf:
			u.dropSelf(src)
			return
		case fragBad:
			u.st.dropFragment.Add(1)
		}
		if whole == nil {
			return
		}
		if h, ok = u.peekHeader(whole, src); !ok {
			return
		}
		plain = whole
	} else {
		if h, ok = u.peekHeader(plain, src); !ok || !u.fresh(datagram, h.Sender, src) {
			return
		}
		plain = bytes.Clone(plain)
	}
	if h.Sender == u.cfg.NodeID {
		u.dropSelf(src)
		return
	}
	u.learn(h.Sender, src)
	u.heard.record(h.Sender, src, now)
	u.enqueue(Packet{From: h.Sender, Data: plain})
}

// dropSelf drops our own multicast echo. A datagram with our id from another port or host
// means two nodes share an id; that is worth one warning.
func (u *UDP) dropSelf(src netip.AddrPort) {
	u.st.dropSelf.Add(1)
	sameAddr := u.local.Addr().IsUnspecified() || src.Addr() == u.local.Addr()
	if (src.Port() != u.local.Port() || !sameAddr) && !u.warnDup.Swap(true) {
		u.log.Warn("udp: datagram carrying our node id from another address: duplicate node id?",
			"node", u.cfg.NodeID, "from", src, "local", u.local)
	}
}

// peekHeader reads an opened datagram's header, counting one that is not of this
// cluster.
func (u *UDP) peekHeader(plain []byte, src netip.AddrPort) (wire.Header, bool) {
	h, err := wire.PeekHeader(plain, u.cfg.Cluster)
	if err != nil {
		u.st.dropHeader.Add(1)
		u.headerDrops.add(src)
		return h, false
	}
	return h, true
}

// fresh applies the replay filter to a datagram Open accepted from sender (with a key
// only: without one anybody can forge anything, so replays are no further risk). It
// counts what it drops. Our own id is left to dropSelf, except a copy of one of our own
// datagrams from elsewhere, which is a replay, not another node with our id.
func (u *UDP) fresh(datagram []byte, sender wire.NodeID, src netip.AddrPort) bool {
	if u.replay == nil {
		return true
	}
	epoch, counter, ok := sealedSequence(datagram)
	if !ok {
		return true
	}
	if sender == u.cfg.NodeID {
		if epoch == u.epoch && src != u.local && !u.local.Addr().IsUnspecified() {
			u.st.dropReplay.Add(1)
			u.replayDrops.add(src)
			return false
		}
		return true
	}
	switch v, other := u.replay.check(sender, epoch, counter, src, time.Now()); v {
	case replayed:
		u.st.dropReplay.Add(1)
		u.replayDrops.add(src)
		return false
	case duplicate:
		u.st.dropDuplicateID.Add(1)
		u.dupIDs.add(sender, other, src)
		return false
	}
	return true
}

// enqueue hands a packet to the node without ever blocking the reader: a full queue means
// the node is too slow, and the protocol recovers a dropped datagram like a lost one.
func (u *UDP) enqueue(p Packet) {
	select {
	case u.packets <- p:
		u.st.received.Add(1)
	default:
		u.st.dropOverflow.Add(1)
	}
}

// sourceOf converts a received datagram's source address.
func sourceOf(a net.Addr) netip.AddrPort {
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	return unmapAddrPort(ua.AddrPort())
}
