package simtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// forbiddenImports are packages a pure state machine must not use: they bring I/O,
// concurrency, wall clocks or randomness, any of which would break deterministic replay.
var forbiddenImports = map[string]bool{
	"net": true, "os": true, "sync": true, "sync/atomic": true, "context": true,
	"math/rand": true, "math/rand/v2": true, "crypto/rand": true, "log": true, "log/slog": true,
	"io/ioutil": true, "os/exec": true, "syscall": true, "unsafe": true,
}

// forbiddenTime are the parts of package time that read a clock or start timers; a pure
// package may use time.Duration only.
var forbiddenTime = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true, "AfterFunc": true,
	"NewTimer": true, "NewTicker": true, "Tick": true,
}

// CheckPure fails t if the non-test Go files in dir import I/O, concurrency, clock or
// randomness packages, read the clock, or start goroutines.
func CheckPure(t *testing.T, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if forbiddenImports[path] {
				t.Errorf("%s imports %s: a pure state machine does no I/O, concurrency or randomness", f, path)
			}
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: starts a goroutine", fset.Position(n.Pos()))
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok && id.Name == "time" && forbiddenTime[n.Sel.Name] {
					t.Errorf("%s: time.%s reads a clock or starts a timer", fset.Position(n.Pos()), n.Sel.Name)
				}
			}
			return true
		})
	}
}
