// Package archtest holds tests that check rules about the module as a whole rather than
// about one package: that every exported name carries a doc comment, and that every
// package imports only what ARCHITECTURE.md's package table allows it (the test reads
// the table itself, so the document is the rule).
//
// It has no code of its own; everything is in its _test.go files, which read the
// module's sources with go/parser from the module root (the nearest directory above
// this one that holds go.mod). Run it with
//
//	go test ./internal/archtest
package archtest
