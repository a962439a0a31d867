package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// moduleRoot returns the directory of the module's go.mod: the nearest one at or above
// the test's working directory, which go test sets to this package's directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// sourceFile is one parsed non-test Go file of the module.
type sourceFile struct {
	rel  string // path relative to the module root, slash-separated
	fset *token.FileSet
	file *ast.File
}

// moduleSources parses every non-test .go file of the module under root, skipping
// testdata, hidden and underscore directories, nested modules, generated files and
// package main (commands document themselves in their usage text, not in go doc).
func moduleSources(t *testing.T, root string) []sourceFile {
	t.Helper()
	var files []sourceFile
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path == root {
				return nil
			}
			if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" || ast.IsGenerated(f) {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		files = append(files, sourceFile{rel: filepath.ToSlash(rel), fset: fset, file: f})
		return nil
	})
	if err != nil {
		t.Fatalf("reading the module's sources: %v", err)
	}
	return files
}

// TestExportedNamesHaveDocComments fails for every exported top-level name of a
// non-main package that go doc would show without a comment: functions, methods on
// exported types, types, constants and variables. A constant or variable counts as
// documented when its own spec has a comment (above it or trailing on its line) or
// when the block it sits in has one; a type in a parenthesized group needs its own.
func TestExportedNamesHaveDocComments(t *testing.T) {
	root := moduleRoot(t)
	files := moduleSources(t, root)
	if len(files) == 0 {
		t.Fatalf("found no Go files under %s", root)
	}
	var missing []string
	for _, sf := range files {
		missing = append(missing, undocumented(sf)...)
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("%d exported names have no doc comment (say what each is and why):\n\t%s",
			len(missing), strings.Join(missing, "\n\t"))
	}
}

// undocumented lists the exported names of one file that lack a doc comment, each as
// "file:line: pkg.Name".
func undocumented(sf sourceFile) []string {
	var out []string
	report := func(pos token.Pos, what string) {
		p := sf.fset.Position(pos)
		out = append(out, sf.rel+":"+strconv.Itoa(p.Line)+": "+sf.file.Name.Name+"."+what)
	}
	for _, decl := range sf.file.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() || hasText(d.Doc) {
				continue
			}
			if d.Recv == nil {
				report(d.Pos(), d.Name.Name)
				continue
			}
			recv := receiverName(d.Recv)
			if recv == "" || !ast.IsExported(recv) {
				continue // a method on an unexported type is not in go doc
			}
			report(d.Pos(), recv+"."+d.Name.Name)
		case *ast.GenDecl:
			grouped := d.Lparen.IsValid()
			for _, spec := range d.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					if !s.Name.IsExported() || hasText(s.Doc) || (!grouped && hasText(d.Doc)) {
						continue
					}
					report(s.Pos(), s.Name.Name)
				case *ast.ValueSpec:
					if hasText(s.Doc) || hasText(s.Comment) || hasText(d.Doc) {
						continue
					}
					for _, n := range s.Names {
						if n.IsExported() {
							report(n.Pos(), n.Name)
						}
					}
				}
			}
		}
	}
	return out
}

// receiverName returns the name of a method's receiver type, without pointer or type
// parameters, or "" if it has none that can be named.
func receiverName(recv *ast.FieldList) string {
	if recv == nil || len(recv.List) == 0 {
		return ""
	}
	expr := recv.List[0].Type
	for {
		switch e := expr.(type) {
		case *ast.StarExpr:
			expr = e.X
		case *ast.ParenExpr:
			expr = e.X
		case *ast.IndexExpr:
			expr = e.X
		case *ast.IndexListExpr:
			expr = e.X
		case *ast.Ident:
			return e.Name
		default:
			return ""
		}
	}
}

// hasText reports whether a comment group says anything beyond comment markers and
// directives such as //go:generate, which go doc does not show.
func hasText(cg *ast.CommentGroup) bool {
	return cg != nil && strings.TrimSpace(cg.Text()) != ""
}

// TestUndocumentedRules holds the checker to its conventions on a small file: what it
// must report and what counts as documented.
func TestUndocumentedRules(t *testing.T) {
	const src = `package p

func Bare() {}

// Documented does something.
func Documented() {}

type T struct{}

func (T) String() string { return "" }

// Error says what went wrong.
func (*T) Error() string { return "" }

type hidden struct{}

func (hidden) Exported() {}

// Grouped types each need their own comment.
type (
	// A is documented.
	A int
	B int
)

// Block comments cover every name in the block.
const (
	C1 = 1
	C2 = 2
)

const (
	D1 = 1 // trailing comments count
	D2 = 2
)

var V, W = 1, 2

//go:generate echo a directive is not a doc comment
var X = 1

func unexported() {}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	got := undocumented(sourceFile{rel: "p.go", fset: fset, file: f})
	want := []string{
		"p.go:3: p.Bare",
		"p.go:8: p.T",
		"p.go:10: p.T.String",
		"p.go:23: p.B",
		"p.go:34: p.D2",
		"p.go:37: p.V",
		"p.go:37: p.W",
		"p.go:40: p.X",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}
