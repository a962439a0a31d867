package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const modulePath = "github.com/totem-gcs/totem"

// TestImportsFollowTheArchitecture reads the package table of ARCHITECTURE.md and
// checks every package of the module against it: each has a row, and its non-test
// files import no package of the module that its row's "may import" column does not
// name. Test files may import more (a test may use a simulation or a real daemon).
func TestImportsFollowTheArchitecture(t *testing.T) {
	root := moduleRoot(t)
	rules := architectureTable(t, filepath.Join(root, "ARCHITECTURE.md"))
	for pkg, imports := range moduleImports(t, root) {
		allowed, listed := rules[pkg]
		if !listed {
			t.Errorf("package %s has no row in ARCHITECTURE.md's package table: add one with its job and what it may import", pkg)
			continue
		}
		if allowed == nil { // "anything"
			continue
		}
		for _, imp := range imports {
			if !slices.Contains(allowed, imp) {
				t.Errorf("%s imports %s, which ARCHITECTURE.md does not allow it (it may import %v)", pkg, imp, allowed)
			}
		}
	}
}

// tableRow is one row of the package table: | `pkg` | job | may import |.
var tableRow = regexp.MustCompile("^\\| `([^`]+)` \\|[^|]*\\| ([^|]*) \\|$")

var backticked = regexp.MustCompile("`([^`]+)`")

// architectureTable returns each package of the table with the packages of ours it
// may import: nil for "anything", empty for "nothing of ours".
func architectureTable(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		m := tableRow.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		col := strings.TrimSpace(m[2])
		switch {
		case col == "anything":
			rules[m[1]] = nil
		case col == "nothing of ours":
			rules[m[1]] = []string{}
		default:
			var allowed []string
			for _, b := range backticked.FindAllStringSubmatch(col, -1) {
				allowed = append(allowed, b[1])
			}
			if len(allowed) == 0 {
				t.Fatalf("%s: the row of %s says %q: want backticked packages, \"anything\" or \"nothing of ours\"", path, m[1], col)
			}
			rules[m[1]] = allowed
		}
	}
	if len(rules) < 10 {
		t.Fatalf("%s: found %d rows in the package table; is its format still | `pkg` | job | may import |?", path, len(rules))
	}
	return rules
}

// moduleImports returns, for every package directory of the module (main packages
// included), the module's packages its non-test files import, relative to the module.
func moduleImports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		if _, seen := out[pkg]; !seen {
			out[pkg] = nil // a package whose only files are tests still needs a row
		}
		if strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if ours, ok := strings.CutPrefix(p, modulePath+"/"); ok && !slices.Contains(out[pkg], ours) {
				out[pkg] = append(out[pkg], ours)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	delete(out, ".") // the module root holds no Go package
	return out
}
