// Package archtest holds tests that check rules about the module as a whole rather than
// about one package: that every exported name carries a doc comment, and (as later issues
// add them) which packages may import which, as ARCHITECTURE.md lays out.
//
// It has no code of its own; everything is in its _test.go files, which read the
// module's sources with go/parser from the module root (the nearest directory above
// this one that holds go.mod). Run it with
//
//	go test ./internal/archtest
package archtest
