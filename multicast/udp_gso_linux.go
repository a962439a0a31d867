package multicast

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// gsoAvailable: this OS has UDP generic segmentation offload (Linux 4.18 and later; an
// older kernel refuses it at the first send, and the transport stops asking).
const gsoAvailable = true

// appendSegmentCmsg appends a UDP_SEGMENT control message: the kernel cuts the datagram
// it goes with into datagrams of seg bytes.
func appendSegmentCmsg(b []byte, seg int) []byte {
	start := len(b)
	b = append(b, make([]byte, unix.CmsgSpace(2))...)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[start]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[start+unix.CmsgLen(0):], uint16(seg))
	return b
}
