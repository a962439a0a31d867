// Package wire defines every Totem packet kind and its encoding.
//
// A datagram's plaintext is a fixed 12-byte header followed by a msgpack body:
//
//	offset size field
//	0      2    magic 0x7A7E ("totem"), big-endian
//	2      1    format version (Version)
//	3      1    packet kind (Kind)
//	4      4    cluster name hash (ClusterHash), big-endian
//	8      4    sender node id, big-endian (0 is reserved)
//
// The header is fixed-size and in network byte order so that a receiver can reject a
// stranger's datagram (wrong magic, version or cluster) before it parses anything. The body
// is a msgpack array whose shape depends on the kind; every type has hand-written encode and
// decode methods so that each variable-length field is checked against its cap before any
// memory is allocated for it. New fields are only ever appended to a body, never inserted.
//
// Decoding never panics: truncated, oversized, foreign, wrong-version and garbage input all
// produce an error that wraps one of the sentinel errors below (ErrTruncated, ErrBadMagic,
// ErrVersion, ErrCluster, ErrKind, ErrMalformed, ErrTooLarge).
//
// Sequence numbers, aru values and token sequence numbers are 64-bit and never wrap in
// practice (Corosync's 32-bit serial arithmetic is a known source of trouble).
//
// This package is pure: no I/O, no clocks, no goroutines.
package wire
