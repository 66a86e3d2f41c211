package scenario

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/sockbus/sockbus/bench/internal/eioclient"
	"github.com/sockbus/sockbus/bench/internal/stats"
)

// IdleConfig is the idle scenario: Conns Socket.IO connections to the main
// namespace that then stay quiet.
type IdleConfig struct {
	Conns           int
	DialConcurrency int
	// Settle is the pause before each memory reading. Default 3s.
	Settle time.Duration
}

// Idle measures connections accepted per second and resident memory per
// idle connection.
func Idle(ctx context.Context, t Target, cfg IdleConfig) (*Result, error) {
	res := newResult("idle", t)
	if cfg.Settle <= 0 {
		cfg.Settle = 3 * time.Second
	}
	var closedN atomic.Int64
	ccfg := &eioclient.Config{URL: t.URL, Namespace: "/",
		OnClose: func(*eioclient.Client, error) { closedN.Add(1) }}
	// One connection first, so the namespace (and its stream) exist before
	// the baseline reading.
	warm, err := dialMany(ctx, ccfg, 1, 1, 0)
	if err != nil {
		return res, fmt.Errorf("failed to connect: %w", err)
	}
	defer closeAll(warm)
	if !sleepCtx(ctx, cfg.Settle) {
		return res, ctx.Err()
	}
	var before stats.Proc
	if t.PID > 0 {
		if before, err = stats.ReadProc(t.PID); err != nil {
			return res, err
		}
	}
	start := time.Now()
	clients, err := dialMany(ctx, ccfg, cfg.Conns, cfg.DialConcurrency, 1)
	if err != nil {
		return res, fmt.Errorf("failed to connect: %w", err)
	}
	defer closeAll(clients)
	elapsed := time.Since(start)
	m := res.Metrics
	m["idle.accepts_per_s"] = float64(cfg.Conns) / elapsed.Seconds()
	if t.PID > 0 {
		if mid, err := stats.ReadProc(t.PID); err == nil {
			m["idle.cpu_us_per_accept"] = stats.CPUSeconds(before, mid) * 1e6 / float64(cfg.Conns)
		}
		// Median of three readings, Settle apart.
		var rss []float64
		for i := 0; i < 3; i++ {
			if !sleepCtx(ctx, cfg.Settle) {
				return res, ctx.Err()
			}
			p, err := stats.ReadProc(t.PID)
			if err != nil {
				return res, err
			}
			rss = append(rss, float64(p.RSSBytes))
		}
		if t.OnWindow != nil {
			t.OnWindow("idle", 0) // a heap profile: taken now, while connected
		}
		sort.Float64s(rss)
		m["idle.rss_bytes_per_conn"] = (rss[1] - float64(before.RSSBytes)) / float64(cfg.Conns)
		m["idle.rss_mib_total"] = rss[1] / (1 << 20)
		m["idle.rss_mib_base"] = float64(before.RSSBytes) / (1 << 20)
	}
	if n := closedN.Load(); n > 0 {
		res.note("idle: %d of %d connections were closed by the server", n, cfg.Conns+1)
		m["idle.disconnects"] = float64(n)
	}
	return res, nil
}
