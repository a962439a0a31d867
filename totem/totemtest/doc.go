// Package totemtest is what tests of real nodes share (totem's, rsm's): a loopback
// multicast group and node configuration for rings in one process (LoopbackGroup,
// LoopbackNodeConfig), and WaitRing. The simulations live beside what they test
// (membership/clustersim, ring/ringsim); seeds and CheckPure in internal/simtest.
package totemtest
