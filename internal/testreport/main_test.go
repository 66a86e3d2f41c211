package main

import (
	"strings"
	"testing"
)

const stream = `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: nats CLI not installed\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"--- SKIP: TestA (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestA"}
{"Action":"run","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: hidden when passing\n"}
{"Action":"pass","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Output":"PASS\n"}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}
{"Action":"pass","Package":"p"}
`

func TestSkipsAreVisible(t *testing.T) {
	var out strings.Builder
	if st := report(strings.NewReader(stream), &out); st != 0 {
		t.Fatalf("status %d:\n%s", st, out.String())
	}
	for _, want := range []string{"--- SKIP: TestA (p): a_test.go:9: nats CLI not installed", "ok  \tp\t0.1s", "1 test(s) SKIPPED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "hidden when passing") {
		t.Errorf("a passing test's output was shown:\n%s", out.String())
	}
}

func TestFailuresFail(t *testing.T) {
	fail := strings.Replace(stream, `"Action":"pass","Package":"p","Test":"TestB"`, `"Action":"fail","Package":"p","Test":"TestB"`, 1)
	var out strings.Builder
	if st := report(strings.NewReader(fail), &out); st != 1 || !strings.Contains(out.String(), "hidden when passing") {
		t.Fatalf("status %d:\n%s", st, out.String())
	}
	build := `{"ImportPath":"p","Action":"build-output","Output":"x.go:1: syntax error\n"}
{"ImportPath":"p","Action":"build-fail"}
{"Action":"fail","Package":"p"}
`
	out.Reset()
	if st := report(strings.NewReader(build), &out); st != 1 || !strings.Contains(out.String(), "syntax error") {
		t.Fatalf("build failure: status %d:\n%s", st, out.String())
	}
	if st := report(strings.NewReader(""), &out); st != 1 {
		t.Fatal("empty input passed")
	}
}

// A parent test that passes over a skipped subtest (a Node suite's case the
// Go test reported as one), and a subtest that skipped without a reason:
// both are listed and counted in the summary, and the run still passes.
const nested = `{"Action":"start","Package":"m"}
{"Action":"run","Package":"m","Test":"TestAdminUIInChromium"}
{"Action":"output","Package":"m","Test":"TestAdminUIInChromium","Output":"=== RUN   TestAdminUIInChromium\n"}
{"Action":"run","Package":"m","Test":"TestAdminUIInChromium/the_admin_UI_logs_in"}
{"Action":"output","Package":"m","Test":"TestAdminUIInChromium/the_admin_UI_logs_in","Output":"=== RUN   TestAdminUIInChromium/the_admin_UI_logs_in\n"}
{"Action":"output","Package":"m","Test":"TestAdminUIInChromium/the_admin_UI_logs_in","Output":"    nodesuite_test.go:40: node test skip: no Chromium at /usr/bin/chromium\n"}
{"Action":"output","Package":"m","Test":"TestAdminUIInChromium/the_admin_UI_logs_in","Output":"--- SKIP: TestAdminUIInChromium/the_admin_UI_logs_in (0.00s)\n"}
{"Action":"skip","Package":"m","Test":"TestAdminUIInChromium/the_admin_UI_logs_in"}
{"Action":"output","Package":"m","Test":"TestAdminUIInChromium","Output":"--- PASS: TestAdminUIInChromium (1.20s)\n"}
{"Action":"pass","Package":"m","Test":"TestAdminUIInChromium"}
{"Action":"run","Package":"m","Test":"FuzzX/seed#3"}
{"Action":"output","Package":"m","Test":"FuzzX/seed#3","Output":"--- SKIP: FuzzX/seed#3 (0.00s)\n"}
{"Action":"skip","Package":"m","Test":"FuzzX/seed#3"}
{"Action":"output","Package":"m","Output":"ok  \tm\t1.3s\n"}
{"Action":"pass","Package":"m"}
`

func TestSkippedSubtestsAreListedAndCounted(t *testing.T) {
	var out strings.Builder
	if st := report(strings.NewReader(nested), &out); st != 0 {
		t.Fatalf("status %d:\n%s", st, out.String())
	}
	for _, want := range []string{
		"--- SKIP: TestAdminUIInChromium/the_admin_UI_logs_in (m): nodesuite_test.go:40: node test skip: no Chromium at /usr/bin/chromium",
		"\n2 test(s) SKIPPED:\n",
		"  SKIP TestAdminUIInChromium/the_admin_UI_logs_in (m): nodesuite_test.go:40: node test skip: no Chromium",
		"  SKIP FuzzX/seed#3 (m): (no reason given)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
