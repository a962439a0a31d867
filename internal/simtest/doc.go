// Package simtest is what the simulation tests of several packages share: the seeds a
// test runs and how to replay one (Seeds, ReplayCommand, TOTEM_SIM_SEED and friends),
// and CheckPure, which holds a pure state machine's package to its rules.
package simtest
