package app

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runNodeSuite runs a `node --test` command (its reporter unchanged on
// stdout) with a TAP report beside it, and turns every test the suite
// skipped or left as todo into a skipped Go subtest with the suite's
// reason: a PASS over a suite whose cases did not run would hide them, and
// make test's summary lists skips only from go test's own events.
func runNodeSuite(t *testing.T, cmd *exec.Cmd) ([]byte, error) {
	t.Helper()
	tap := filepath.Join(t.TempDir(), "report.tap")
	extra := []string{"--test-reporter-destination=stdout", "--test-reporter=tap", "--test-reporter-destination=" + tap}
	args := make([]string, 0, len(cmd.Args)+len(extra)+1)
	added := false
	for _, a := range cmd.Args {
		args = append(args, a)
		if !added && strings.HasPrefix(a, "--test-reporter=") {
			args, added = append(args, extra...), true
		}
	}
	if !added {
		t.Fatalf("runNodeSuite needs a --test-reporter in %v", cmd.Args)
	}
	cmd.Args = args
	out, err := cmd.CombinedOutput()
	f, ferr := os.Open(tap)
	if ferr != nil {
		if err == nil {
			t.Errorf("node wrote no TAP report: %v", ferr)
		}
		return out, err
	}
	defer f.Close()
	for _, s := range nodeSkips(bufio.NewScanner(f)) {
		t.Run(s.name, func(t *testing.T) { t.Skip(s.reason) })
	}
	return out, err
}

type nodeSkip struct{ name, reason string }

// tapResult is a TAP test point: indentation, name, directive, reason.
var tapResult = regexp.MustCompile(`^(\s*)(?:not )?ok \d+ - (.*?)(?: # (SKIP|TODO)\b\s*(.*))?$`)

// nodeSkips reads node's TAP report: every skipped or todo test, named by
// its path of enclosing tests. A subtest's line comes before its parent's,
// so the parents are found by the "# Subtest:" headers.
func nodeSkips(sc *bufio.Scanner) []nodeSkip {
	var path []string // enclosing subtests, by indentation level
	var skips []nodeSkip
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		depth := (len(line) - len(trimmed)) / 4
		if name, ok := strings.CutPrefix(trimmed, "# Subtest: "); ok {
			path = append(path[:min(depth, len(path))], name)
			continue
		}
		m := tapResult.FindStringSubmatch(line)
		if m == nil || m[3] == "" {
			continue
		}
		name := strings.Join(append(append([]string(nil), path[:min(depth, len(path))]...), unescapeTAP(m[2])), " > ")
		reason := strings.ToLower(m[3])
		if m[4] != "" {
			reason += ": " + m[4]
		}
		skips = append(skips, nodeSkip{name: name, reason: "node test " + reason})
	}
	return skips
}

func unescapeTAP(s string) string { return strings.NewReplacer(`\#`, "#", `\\`, `\`).Replace(s) }

// TestNodeSkipsFromTAP: node's TAP report, as node 20 writes it, yields
// every skipped and todo test with its reason and enclosing test, and
// nothing for the tests that ran.
func TestNodeSkipsFromTAP(t *testing.T) {
	const tap = `TAP version 13
# Subtest: plain ok
ok 1 - plain ok
  ---
  duration_ms: 1.3
  ...
# Subtest: browser case
ok 2 - browser case # SKIP no Chromium at /usr/bin/chromium
# Subtest: todo one
ok 3 - todo one # TODO later
# Subtest: parent
    # Subtest: inner \# skip
    ok 1 - inner \# skip # SKIP inner reason
    # Subtest: inner ok
    ok 2 - inner ok
    1..2
ok 4 - parent
# Subtest: bare
ok 5 - bare # SKIP
1..5
# skipped 3
`
	got := nodeSkips(bufio.NewScanner(strings.NewReader(tap)))
	want := []nodeSkip{
		{"browser case", "node test skip: no Chromium at /usr/bin/chromium"},
		{"todo one", "node test todo: later"},
		{"parent > inner # skip", "node test skip: inner reason"},
		{"bare", "node test skip"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("skips %q, want %q", got, want)
	}
}
