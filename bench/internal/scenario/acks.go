package scenario

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockbus/sockbus/bench/internal/eioclient"
	"github.com/sockbus/sockbus/bench/internal/stats"
)

// AcksConfig is the ack scenario: Clients sockets, each alone in its own
// namespace, each emitting events with an ack in a loop.
type AcksConfig struct {
	Clients int
	// InFlight is how many acks each client waits for at once. Default 1
	// (emit, await the ack, emit again).
	InFlight        int
	Warmup, Measure time.Duration
	PayloadBytes    int
	DialConcurrency int
	// Name is the Result's scenario and its figures' prefix. Default "acks".
	Name string
	// URLs spread the clients round-robin over a cluster's nodes; empty:
	// every client on Target.URL.
	URLs []string
}

// Acks runs the ack scenario.
func Acks(ctx context.Context, t Target, cfg AcksConfig) (*Result, error) {
	name, nsPrefix := cfg.Name, "/"+cfg.Name
	if name == "" {
		name, nsPrefix = "acks", "/ack"
	}
	urls := cfg.URLs
	if len(urls) == 0 {
		urls = []string{t.URL}
	}
	res := newResult(name, t)
	if cfg.InFlight <= 0 {
		cfg.InFlight = 1
	}
	if cfg.PayloadBytes <= 0 {
		cfg.PayloadBytes = 64
	}
	ackCh := make([]chan int64, cfg.Clients)
	for i := range ackCh {
		ackCh[i] = make(chan int64, cfg.InFlight+8)
	}
	var closedN atomic.Int64
	clients := make([]*eioclient.Client, cfg.Clients)
	defer func() { closeAll(clients) }()
	// Every client has its own namespace, hence its own Config.
	for i := range clients {
		ccfg := &eioclient.Config{URL: urls[i%len(urls)], Namespace: nsPrefix + strconv.Itoa(i),
			OnAck: func(c *eioclient.Client, id int64, _ []byte) {
				select {
				case ackCh[c.Tag] <- id:
				default:
				}
			},
			OnClose: func(*eioclient.Client, error) { closedN.Add(1) }}
		cs, err := dialMany(ctx, ccfg, 1, 1, i)
		if err != nil {
			return res, fmt.Errorf("failed to connect client %d: %w", i, err)
		}
		clients[i] = cs[0]
	}

	hist := new(stats.Histogram)
	var acked, timeouts atomic.Uint64
	w := startWindow(ctx, t, name, cfg.Warmup, cfg.Measure)
	pad := padding(cfg.PayloadBytes)
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Clients)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sentAt := map[int64]int64{}
			var id int64
			frame := make([]byte, 0, 256)
			args := make([]byte, 0, 128)
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for !w.closed() && ctx.Err() == nil {
				for len(sentAt) < cfg.InFlight {
					ts := now()
					args = append(args[:0], `["a",`...)
					args = strconv.AppendInt(args, ts, 10)
					args = append(args, ',')
					args = strconv.AppendInt(args, id, 10)
					args = append(args, `,"`...)
					args = append(append(args, pad...), `"]`...)
					frame = eioclient.AppendEvent(frame[:0], c.Prefix(), id, args)
					if err := c.Send(frame); err != nil {
						errs <- fmt.Errorf("client %d: %w", i, err)
						return
					}
					sentAt[id] = ts
					id++
				}
				timer.Reset(5 * time.Second)
				select {
				case got := <-ackCh[i]:
					ts, ok := sentAt[got]
					if !ok {
						continue
					}
					delete(sentAt, got)
					if w.recording.Load() {
						hist.Record(time.Duration(now() - ts))
						acked.Add(1)
					}
				case <-timer.C:
					timeouts.Add(1)
					clear(sentAt) // give up on those; keep going
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	<-w.done
	close(errs)
	if err := <-errs; err != nil {
		return res, err
	}
	if w.err != nil {
		return res, w.err
	}
	secs := w.seconds()
	n := float64(acked.Load())
	m := res.Metrics
	p := name + "."
	m[p+"acks_per_s"] = n / secs
	m[p+"p50_ms"] = hist.Quantile(0.50)
	m[p+"p99_ms"] = hist.Quantile(0.99)
	m[p+"mean_ms"] = hist.MeanMS()
	m[p+"max_ms"] = hist.MaxMS()
	m[p+"loader_cores"] = w.loaderCPU() / secs
	if t.measured() && n > 0 {
		m[p+"cpu_us_per_ack"] = w.serverCPU() * 1e6 / n
		m[p+"server_cores"] = w.serverCPU() / secs
	}
	if k := timeouts.Load(); k > 0 {
		m[p+"timeouts"] = float64(k)
		res.note("%s: %d waits over 5 s", name, k)
	}
	if k := closedN.Load(); k > 0 {
		res.note("%s: %d connections closed by the server", name, k)
	}
	return res, nil
}
