package prom

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sockbus/sockbus/metrics"
)

// exposed gathers the family names a Collector exposes with every source set.
func exposed(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewPedanticRegistry() // also checks descriptors match what Collect sends
	reg.MustRegister(NewCollector(Sources{
		Set:            new(metrics.Set),
		Live:           func() metrics.Live { return metrics.Live{} },
		StoreBytes:     func() (uint64, bool) { return 0, true },
		ClusterPeers:   func() int { return 0 },
		BusDisconnects: func() uint64 { return 0 },
		LiveDropped:    func() uint64 { return 0 },
		WebhookBacklog: func() (uint64, uint64, bool) { return 0, 0, true },
	}))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	return names
}

var metricName = regexp.MustCompile(`sockbus_[a-z_]+`)

// used lists the sockbus_ names in a file (from its line section on, up to
// the next "## " heading, when section is set), histogram suffixes stripped.
func used(t *testing.T, path, section string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if section != "" {
		_, text, _ = strings.Cut(text, "\n"+section+"\n")
		text, _, _ = strings.Cut(text, "\n## ")
	}
	out := map[string]bool{}
	for _, n := range metricName.FindAllString(text, -1) {
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if strings.HasSuffix(n, "_seconds"+suffix) {
				n = strings.TrimSuffix(n, suffix)
			}
		}
		out[n] = true
	}
	return out
}

// The Grafana dashboard and the metrics table of docs/operations.md name
// only metrics that exist, and the table lists every one.
func TestDashboardAndDocsUseExposedNames(t *testing.T) {
	have := exposed(t)
	if len(have) != 30 {
		t.Errorf("%d families exposed, want 30: %v", len(have), have)
	}
	dashboard := used(t, "../../examples/grafana/sockbus.json", "")
	readme := used(t, "../../docs/operations.md", "## Metrics")
	for n := range dashboard {
		if !have[n] {
			t.Errorf("dashboard uses %s, which is not exposed", n)
		}
	}
	for n := range readme {
		if !have[n] {
			t.Errorf("docs/operations.md names %s, which is not exposed", n)
		}
	}
	for n := range have {
		if !readme[n] {
			t.Errorf("docs/operations.md does not list %s", n)
		}
		if !dashboard[n] {
			t.Errorf("dashboard does not chart %s", n)
		}
	}
}
