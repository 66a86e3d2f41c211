package scenario

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sockbus/sockbus/bench/internal/eioclient"
	"github.com/sockbus/sockbus/bench/internal/stats"
)

// Phase is one measured load level of a fan-out.
type Phase struct {
	// Name prefixes the phase's figures ("fanout50", "fanoutsat").
	Name string
	// Rate is the sender's messages per second; 0 sends as fast as the
	// window allows (saturation).
	Rate float64
	// Window bounds the messages in flight (sent, not yet received by every
	// receiver). Default 32.
	Window int
	// Warmup runs before, and Measure is, the measurement window.
	Warmup, Measure time.Duration
}

// FanoutConfig is a fan-out: Receivers and one sender in one namespace (or
// plain WebSocket channel), the sender's events going to every receiver.
type FanoutConfig struct {
	// Plain uses /ws/{Room} instead of the Socket.IO namespace "/"+Room;
	// the sender then gets its own messages back too.
	Plain bool
	// Room is the namespace (without '/') or channel name.
	Room      string
	Receivers int
	Phases    []Phase
	// PayloadBytes is the filler in each message. Default 64.
	PayloadBytes int
	// DialConcurrency bounds concurrent connection attempts. Default 32.
	DialConcurrency int
	// Name is the Result's scenario. Default "fanout" ("ws" when Plain).
	Name string
	// URLs spread the receivers round-robin over a cluster's nodes (the
	// sender on URLs[0]); empty: every client on Target.URL.
	URLs []string
}

const ringSize = 4096 // > any window: completion counters by sequence number

// fanState is shared by all receivers of a fan-out.
type fanState struct {
	hist      atomic.Pointer[stats.Histogram]
	win       atomic.Pointer[window]
	delivered atomic.Uint64
	bad       atomic.Uint64
	closedN   atomic.Int64
	expected  uint64
	ring      [ringSize]atomic.Uint64       // seq<<20 | receivers that got it
	sem       atomic.Pointer[chan struct{}] // window slots of the current phase
}

func (st *fanState) onEvent(_ *eioclient.Client, args []byte) {
	t, seq, ok := eioclient.LeadingInts(args)
	if !ok {
		st.bad.Add(1)
		return
	}
	lat := time.Duration(now() - int64(t))
	if w := st.win.Load(); w != nil && w.recording.Load() {
		st.hist.Load().Record(lat)
		st.delivered.Add(1)
	}
	cell := &st.ring[seq%ringSize]
	for {
		v := cell.Load()
		nv := seq<<20 | 1
		if v>>20 == seq {
			nv = v + 1
		}
		if cell.CompareAndSwap(v, nv) {
			if nv&(1<<20-1) == st.expected {
				if sem := st.sem.Load(); sem != nil {
					select {
					case <-*sem:
					default:
					}
				}
			}
			return
		}
	}
}

// Fanout runs the phases one after the other on the same connections.
func Fanout(ctx context.Context, t Target, cfg FanoutConfig) (*Result, error) {
	name := "fanout"
	if cfg.Plain {
		name = "ws"
	}
	if cfg.Name != "" {
		name = cfg.Name
	}
	res := newResult(name, t)
	if cfg.PayloadBytes <= 0 {
		cfg.PayloadBytes = 64
	}
	st := &fanState{expected: uint64(cfg.Receivers)}
	if cfg.Plain {
		st.expected++ // the sender's echo
	}
	urls := cfg.URLs
	if len(urls) == 0 {
		urls = []string{t.URL}
	}
	cfgs := make([]*eioclient.Config, len(urls))
	for i, u := range urls {
		cfgs[i] = &eioclient.Config{URL: u, Plain: cfg.Plain, Channel: cfg.Room, Namespace: "/" + cfg.Room,
			OnEvent: st.onEvent, OnClose: func(*eioclient.Client, error) { st.closedN.Add(1) }}
	}
	var recv []*eioclient.Client
	defer func() { closeAll(recv) }()
	for i, ccfg := range cfgs {
		// Receivers i, i+len(urls), ... on node i.
		n := (cfg.Receivers - i + len(urls) - 1) / len(urls)
		cs, err := dialMany(ctx, ccfg, n, cfg.DialConcurrency, len(recv))
		if err != nil {
			return res, fmt.Errorf("failed to connect receivers to %s: %w", ccfg.URL, err)
		}
		recv = append(recv, cs...)
	}
	sender, err := eioclient.Dial(ctx, cfgs[0], nil)
	if err != nil {
		return res, fmt.Errorf("failed to connect the sender: %w", err)
	}
	defer closeAll([]*eioclient.Client{sender})
	closedBefore := st.closedN.Load()

	pad := padding(cfg.PayloadBytes)
	var seq uint64
	for _, ph := range cfg.Phases {
		if err := runPhase(ctx, t, cfg, ph, st, sender, pad, &seq, res); err != nil {
			return res, err
		}
	}
	if n := st.closedN.Load() - closedBefore; n > 0 {
		res.note("%d connections were closed by the server during the run", n)
		res.Metrics[name+".disconnects"] = float64(n)
	}
	if n := st.bad.Load(); n > 0 {
		res.note("%d messages without a timestamp", n)
	}
	return res, nil
}

func runPhase(ctx context.Context, t Target, cfg FanoutConfig, ph Phase, st *fanState,
	sender *eioclient.Client, pad string, seq *uint64, res *Result) error {
	win := ph.Window
	if win <= 0 {
		win = 32
	}
	if ph.Rate > 0 {
		win = ringSize / 4
	}
	sem := make(chan struct{}, min(win, ringSize/4))
	st.sem.Store(&sem)
	hist := new(stats.Histogram)
	st.hist.Store(hist)
	st.delivered.Store(0)
	w := startWindow(ctx, t, ph.Name, ph.Warmup, ph.Measure)
	st.win.Store(w)

	var sent, sentIn, stalls uint64
	var interval time.Duration
	if ph.Rate > 0 {
		interval = time.Duration(float64(time.Second) / ph.Rate)
	}
	next := time.Now()
	frame := make([]byte, 0, 256)
	stall := time.NewTimer(time.Hour)
	defer stall.Stop()
	for !w.closed() && ctx.Err() == nil {
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			} else if d < -time.Second {
				next = time.Now() // fell far behind: no burst to catch up
			}
			next = next.Add(interval)
		}
		stall.Reset(2 * time.Second)
		select {
		case sem <- struct{}{}:
		case <-stall.C:
			// A message never reached everyone: free its slot.
			stalls++
			select {
			case <-sem:
			default:
			}
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		s := *seq
		*seq++
		frame = frame[:0]
		if cfg.Plain {
			frame = strconv.AppendInt(frame, now(), 10)
			frame = append(frame, ',')
			frame = strconv.AppendUint(frame, s, 10)
			frame = append(frame, ',')
			frame = append(frame, pad...)
		} else {
			frame = append(frame, "42"...)
			frame = append(frame, sender.Prefix()...)
			frame = append(frame, `["m",`...)
			frame = strconv.AppendInt(frame, now(), 10)
			frame = append(frame, ',')
			frame = strconv.AppendUint(frame, s, 10)
			frame = append(frame, `,"`...)
			frame = append(frame, pad...)
			frame = append(frame, `"]`...)
		}
		if err := sender.Send(frame); err != nil {
			return fmt.Errorf("sender: %w", err)
		}
		sent++
		if w.recording.Load() {
			sentIn++
		}
	}
	<-w.done
	if w.err != nil {
		return w.err
	}
	// Let what is in flight land (bounded) before the next phase.
	for deadline := time.Now().Add(3 * time.Second); len(sem) > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}

	secs := w.seconds()
	d := float64(st.delivered.Load())
	m, p := res.Metrics, ph.Name+"."
	m[p+"deliveries_per_s"] = d / secs
	m[p+"msgs_per_s"] = float64(sentIn) / secs
	m[p+"p50_ms"] = hist.Quantile(0.50)
	m[p+"p99_ms"] = hist.Quantile(0.99)
	m[p+"mean_ms"] = hist.MeanMS()
	m[p+"max_ms"] = hist.MaxMS()
	if sentIn > 0 {
		m[p+"completeness"] = d / (float64(sentIn) * float64(st.expected))
	}
	m[p+"loader_cores"] = w.loaderCPU() / secs
	if t.measured() && d > 0 {
		m[p+"cpu_us_per_delivery"] = w.serverCPU() * 1e6 / d
		m[p+"server_cores"] = w.serverCPU() / secs
	}
	if stalls > 0 {
		m[p+"stalls"] = float64(stalls)
		res.note("%s: %d window stalls (a message did not reach every receiver within 2 s)", ph.Name, stalls)
	}
	return nil
}
