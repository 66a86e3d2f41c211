package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action, Package, Test, Output, ImportPath string
}

type skip struct{ name, reason string }

func main() {
	os.Exit(report(os.Stdin, os.Stdout))
}

func report(in io.Reader, out io.Writer) int {
	var (
		buf     = map[string]*strings.Builder{}
		skips   []skip
		failed  bool
		events  int
		scanner = bufio.NewScanner(in)
	)
	scanner.Buffer(make([]byte, 1<<20), 16<<20)
	for scanner.Scan() {
		line := scanner.Bytes()
		var e event
		if json.Unmarshal(line, &e) != nil {
			fmt.Fprintln(out, string(line)) // go test's own errors are not JSON
			continue
		}
		events++
		key := e.Package + " " + e.Test
		switch e.Action {
		case "build-output":
			fmt.Fprint(out, e.Output)
		case "build-fail":
			failed = true
		case "output":
			if e.Test == "" {
				if e.Output != "PASS\n" && !strings.HasPrefix(e.Output, "=== ") {
					fmt.Fprint(out, e.Output)
				}
				continue
			}
			b := buf[key]
			if b == nil {
				b = &strings.Builder{}
				buf[key] = b
			}
			b.WriteString(e.Output)
		case "fail":
			failed = true
			if b := buf[key]; b != nil {
				fmt.Fprint(out, b.String())
			}
			delete(buf, key)
		case "skip":
			if e.Test != "" {
				s := skip{name: e.Test + " (" + e.Package + ")"}
				if b := buf[key]; b != nil {
					s.reason = skipReason(b.String())
				}
				skips = append(skips, s)
				if s.reason != "" {
					fmt.Fprintf(out, "--- SKIP: %s: %s\n", s.name, s.reason)
				}
			}
			delete(buf, key)
		case "pass":
			delete(buf, key)
		}
	}
	if err := scanner.Err(); err != nil {
		fmt.Fprintln(out, "testreport:", err)
		return 1
	}
	summarize(out, skips)
	if events == 0 {
		fmt.Fprintln(out, "testreport: no test events on stdin")
		return 1
	}
	if failed {
		fmt.Fprintln(out, "FAIL")
		return 1
	}
	return 0
}

// skipReason is what the test passed to t.Skip: the output lines that are
// not go test's own "=== RUN" / "--- SKIP" framing.
func skipReason(output string) string {
	var parts []string
	for _, l := range strings.Split(output, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		parts = append(parts, t)
	}
	return strings.Join(parts, " ")
}

// summarize repeats every skip at the end, where it cannot scroll away,
// with their count: subtests too (a parent that passed says nothing of its
// skipped cases, such as a Node suite's skips that the Go test turned into
// skipped subtests), and those without a reason (a fuzz seed a test
// rejects), named as such.
func summarize(out io.Writer, skips []skip) {
	if len(skips) == 0 {
		return
	}
	fmt.Fprintf(out, "\n%d test(s) SKIPPED:\n", len(skips))
	for _, s := range skips {
		reason := s.reason
		if reason == "" {
			reason = "(no reason given)"
		}
		fmt.Fprintf(out, "  SKIP %s: %s\n", s.name, reason)
	}
}
