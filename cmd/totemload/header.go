package main

import "encoding/binary"

// The 32-byte header at the start of every message, laid out as cpgload's packed
// struct wire_hdr on a little-endian host:
//
//	offset  0  uint32  magic
//	        4  uint32  run id
//	        8  uint16  kind (DATA, END)
//	       10  uint16  sender index 1..K
//	       12  uint32  size: the whole message's length
//	       16  uint64  DATA: 0-based sequence number; END: data messages sent
//	       24  uint64  scheduled send time, CLOCK_MONOTONIC ns
const (
	hdrLen    = 32
	loadMagic = 0x4c445442 // "BTDL" in little-endian bytes
	kindData  = 1
	kindEnd   = 2
)

type header struct {
	magic  uint32
	runID  uint32
	kind   uint16
	sender uint16
	size   uint32
	seq    uint64
	ts     uint64
}

// put writes h into b[:hdrLen].
func (h *header) put(b []byte) {
	_ = b[hdrLen-1]
	le := binary.LittleEndian
	le.PutUint32(b[0:], h.magic)
	le.PutUint32(b[4:], h.runID)
	le.PutUint16(b[8:], h.kind)
	le.PutUint16(b[10:], h.sender)
	le.PutUint32(b[12:], h.size)
	le.PutUint64(b[16:], h.seq)
	le.PutUint64(b[24:], h.ts)
}

// parseHeader reads the header of b; ok is false when b is shorter than a header.
func parseHeader(b []byte) (h header, ok bool) {
	if len(b) < hdrLen {
		return h, false
	}
	le := binary.LittleEndian
	return header{
		magic:  le.Uint32(b[0:]),
		runID:  le.Uint32(b[4:]),
		kind:   le.Uint16(b[8:]),
		sender: le.Uint16(b[10:]),
		size:   le.Uint32(b[12:]),
		seq:    le.Uint64(b[16:]),
		ts:     le.Uint64(b[24:]),
	}, true
}

// FNV-1a, 64 bits.
const (
	fnvOffset = 0xcbf29ce484222325
	fnvPrime  = 0x100000001b3
)

func fnvMix(d uint64, b []byte) uint64 {
	for _, c := range b {
		d ^= uint64(c)
		d *= fnvPrime
	}
	return d
}

// digestRecord mixes one delivered message into d as cpgload does: the 16 bytes node
// id (uint32), sender (uint16), kind (uint16), seq (uint64), little-endian.
func digestRecord(d uint64, nodeID uint32, sender, kind uint16, seq uint64) uint64 {
	var rec [16]byte
	le := binary.LittleEndian
	le.PutUint32(rec[0:], nodeID)
	le.PutUint16(rec[4:], sender)
	le.PutUint16(rec[6:], kind)
	le.PutUint64(rec[8:], seq)
	return fnvMix(d, rec[:])
}
