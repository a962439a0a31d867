package cliutil

import (
	"bytes"
	"errors"
	"testing"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		code int
		out  string
	}{
		{nil, 0, ""},
		{errors.New("no daemon"), 1, "prog: no daemon\n"},
		{Usagef("bad %s", "flag"), 2, "prog: bad flag\n"},
		{Usagef(""), 2, ""},
	}
	for _, tt := range tests {
		var w bytes.Buffer
		if code := ExitCode(&w, "prog", tt.err); code != tt.code || w.String() != tt.out {
			t.Errorf("ExitCode(%v) = %d, printed %q; want %d, %q", tt.err, code, w.String(), tt.code, tt.out)
		}
	}
}
