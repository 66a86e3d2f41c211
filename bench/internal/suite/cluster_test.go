package suite

import (
	"context"
	"strings"
	"testing"

	"github.com/sockbus/sockbus/bench/internal/scenario"
)

// Without redis-server the cluster scenario skips socket.io visibly
// (n/a in the table, a line in the log) instead of failing the run.
func TestClusterWithoutRedisSkipsSocketIO(t *testing.T) {
	var log strings.Builder
	cfg := Config{Plan: QuickPlan(), Out: t.TempDir(), Log: &log,
		Servers:   Servers{Redis: "/nonexistent/redis-server"},
		Scenarios: []string{"cluster"}, Kinds: []string{scenario.KindSocketIO, scenario.KindGWS}}
	results, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 {
		t.Fatalf("%d results, want 2", len(results))
	}
	for _, r := range results {
		if !strings.HasPrefix(r.Pending, "n/a") || r.Error != "" {
			t.Errorf("%s: pending %q error %q, want n/a", r.Kind, r.Pending, r.Error)
		}
	}
	if !strings.Contains(results[0].Pending, "redis-server not found") {
		t.Errorf("socket.io: %q does not say redis-server is missing", results[0].Pending)
	}
	if !strings.Contains(log.String(), "SKIPPING socket.io's cluster") {
		t.Errorf("no visible skip line in the log:\n%s", log.String())
	}
}
