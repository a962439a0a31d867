// Package ringsim is the seeded simulation of one ring of ring.Rings of known
// membership over multicast/simnet, with its delivery checks: what ring's tests and
// cmd/totemsim run.
package ringsim
