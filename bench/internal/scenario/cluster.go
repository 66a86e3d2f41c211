package scenario

import (
	"context"
	"fmt"
	"time"
)

// ClusterConfig sizes the cluster scenario: a fan-out across the nodes
// (fixed rate, then saturation), acks on every node, then a node killed
// mid-stream.
type ClusterConfig struct {
	Receivers int
	Rate      float64
	Window    int
	Warmup    time.Duration
	Measure   time.Duration
	AckConns  int
	// KillBefore and KillAfter: the event flow before and after the SIGKILL.
	KillBefore, KillAfter time.Duration
}

// Cluster runs the cluster scenario on Target.Nodes (clients round-robin
// over them; senders on node 0) and merges the parts' figures into one
// Result: cfan50.* and cfansat.* (fan-out), cacks.* (acks), ckill.* (node
// loss, last: it leaves the cluster a node short).
func Cluster(ctx context.Context, t Target, cfg ClusterConfig) (*Result, error) {
	res := newResult("cluster", t)
	if len(t.Nodes) < 2 {
		return res, fmt.Errorf("cluster: needs two or more nodes, got %d", len(t.Nodes))
	}
	merge := func(r *Result) {
		if r == nil {
			return
		}
		for k, v := range r.Metrics {
			res.Metrics[k] = v
		}
		res.Notes = append(res.Notes, r.Notes...)
	}
	fan, err := Fanout(ctx, t, FanoutConfig{Name: "cluster", Room: "cfan", Receivers: cfg.Receivers, URLs: t.Nodes,
		Phases: []Phase{
			{Name: "cfan50", Rate: cfg.Rate, Warmup: cfg.Warmup, Measure: cfg.Measure},
			{Name: "cfansat", Window: cfg.Window, Warmup: cfg.Warmup, Measure: cfg.Measure},
		}})
	merge(fan)
	if err != nil {
		return res, fmt.Errorf("fan-out: %w", err)
	}
	acks, err := Acks(ctx, t, AcksConfig{Name: "cacks", Clients: cfg.AckConns, URLs: t.Nodes,
		Warmup: cfg.Warmup, Measure: cfg.Measure})
	merge(acks)
	if err != nil {
		return res, fmt.Errorf("acks: %w", err)
	}
	kill, err := Kill(ctx, t, KillConfig{Name: "ckill", Receivers: cfg.Receivers, Rate: cfg.Rate,
		Before: cfg.KillBefore, After: cfg.KillAfter})
	merge(kill)
	if err != nil {
		return res, fmt.Errorf("node kill: %w", err)
	}
	return res, nil
}
