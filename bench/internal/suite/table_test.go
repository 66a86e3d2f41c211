package suite

import (
	"strings"
	"testing"

	"github.com/sockbus/sockbus/bench/internal/scenario"
)

func TestTableRatiosAndVerdicts(t *testing.T) {
	p := FullPlan()
	res := func(kind string, round int, m map[string]float64) scenario.Result {
		return scenario.Result{Scenario: "fanout", Kind: kind, Round: round, Metrics: m}
	}
	var results []scenario.Result
	for round := 1; round <= 3; round++ {
		results = append(results,
			res(scenario.KindSocketIO, round, map[string]float64{"fanout50.cpu_us_per_delivery": 20, "fanout50.p99_ms": 40}),
			res(scenario.KindGWS, round, map[string]float64{"fanout50.cpu_us_per_delivery": 10, "fanout50.p99_ms": 5}),
			res(scenario.KindSockbus, round, map[string]float64{"fanout50.cpu_us_per_delivery": 9, "fanout50.p99_ms": 12}),
		)
	}
	results = append(results, scenario.Result{Scenario: "replay", Kind: scenario.KindGWS, Round: 1,
		Pending: "n/a: the bare relay stores nothing", Metrics: map[string]float64{}})
	out := Table(results, Meta{Plan: p})
	for _, want := range []string{
		"| fanout 1000 recv, 50 msg/s | server CPU µs/delivery | 20.0 | 10.0 | 9.00 | 0.45× | 0.90× | ≤ 0.5× socket.io, ≤ 1.15× gws | met |",
		"| fanout 1000 recv, 50 msg/s | p99 ms | 40.0 | 5.00 | 12.0 | 0.30× | 2.40× | ≤ 30 ms at 50k deliveries/s | met |",
		"n/a: the bare relay stores nothing",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "acks/s") {
		t.Errorf("rows without any figure should be left out:\n%s", out)
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Error(m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Error(m)
	}
}

func TestTableClusterRows(t *testing.T) {
	p := QuickPlan()
	results := []scenario.Result{
		{Scenario: "cluster", Kind: scenario.KindSocketIO, Round: 1, Metrics: map[string]float64{
			"cfan50.cpu_us_per_delivery": 30, "ckill.lost_per_moved_client": 2.5, "ckill.ms_to_99pct_back": 70}},
		{Scenario: "cluster", Kind: scenario.KindGWS, Round: 1, Pending: "n/a: the bare relay is one process, no cluster",
			Metrics: map[string]float64{}},
		{Scenario: "cluster", Kind: scenario.KindSockbus, Round: 1, Metrics: map[string]float64{
			"cfan50.cpu_us_per_delivery": 15, "ckill.lost_per_moved_client": 0, "ckill.ms_to_99pct_back": 140,
			"ckill.ms_to_99pct_recovered": 140}},
	}
	out := Table(results, Meta{Plan: p})
	for _, want := range []string{
		"| cluster of 3, 150 recv over the nodes (CPU: all nodes + Redis), 50 msg/s | server CPU µs/delivery | 30.0 | n/a | 15.0 | 0.50× |  |  |  |",
		"| cluster of 3, node SIGKILLed at 50 msg/s, 150 recv | acked events lost per moved client | 2.50 | n/a | 0.000 | 0.00× |  |  |  |",
		"| cluster of 3, node SIGKILLed at 50 msg/s, 150 recv | ms until 99% recovered (same session; –: never) | – | n/a | 140 |  |  |  |  |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
