//go:build !linux

package multicast

// gsoAvailable: UDP segmentation offload is Linux's; elsewhere every frame is sent on
// its own.
const gsoAvailable = false

func appendSegmentCmsg(b []byte, _ int) []byte { return b }
