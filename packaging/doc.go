// Package packaging holds no code: it is the home of the files that install totemd as a
// system service (systemd/: the unit, its sysusers.d file and an example config file),
// and its tests check those files against systemd and against the totemd they run.
package packaging
