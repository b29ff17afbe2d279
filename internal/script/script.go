// Package script runs the project's golden scenario scripts: a sequence of
// commands, each with the exact output expected of it (raft's datadriven
// format, reduced to what these scripts need). A test runs a script with
// Run, giving a function that executes one command; go test -args -rewrite
// writes the actual outputs back into the scripts.
package script

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of the scripts in testdata with the actual trace")

// A script is a sequence of blocks, each a command, a line "----" and the
// expected output up to a blank line (raft's datadriven format, reduced to
// what these scripts need):
//
//	crash a reason=boom
//	----
//	sup: exited a#1 reason=boom
//	sup: restarted a#2
//
// Blank lines and lines starting with # between blocks are kept as they
// are. Output never contains a blank line.
type block struct {
	line     int    // of the command, for error messages
	cmd      string // the command line
	expected string // without the final newline
}

// item is a verbatim line (b == nil) or a block.
type item struct {
	text string
	b    *block
}

func parseScript(t *testing.T, path string) []item {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var items []item
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			items = append(items, item{text: l})
			continue
		}
		b := &block{line: i + 1, cmd: strings.TrimSpace(l)}
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("%s:%d: command %q is not followed by ----", path, i+1, l)
		}
		i += 2
		var out []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			out = append(out, lines[i])
		}
		b.expected = strings.Join(out, "\n")
		items = append(items, item{b: b})
	}
	return items
}

// Run runs every block of the script at path through do, in order, and
// compares its output with the expected one, or with -rewrite writes the
// actual outputs back into the file.
func Run(t *testing.T, path string, do func(cmd string) string) {
	t.Helper()
	items := parseScript(t, path)
	var sb strings.Builder
	for _, it := range items {
		if it.b == nil {
			sb.WriteString(it.text + "\n")
			continue
		}
		got := strings.TrimSuffix(do(it.b.cmd), "\n")
		if !*rewrite && got != it.b.expected {
			t.Errorf("%s:%d: %s\n--- expected\n%s\n--- got\n%s", path, it.b.line, it.b.cmd, it.b.expected, got)
		}
		sb.WriteString(it.b.cmd + "\n----\n")
		if got != "" {
			sb.WriteString(got + "\n")
		}
		sb.WriteString("\n")
	}
	if *rewrite {
		out := strings.TrimRight(sb.String(), "\n") + "\n"
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
