package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockbus/sockbus/bench/internal/eioclient"
	"github.com/sockbus/sockbus/bench/internal/stats"
)

// StormConfig is the reconnect storm: Clients connected with recovery to
// one namespace while a sender emits numbered events at Rate; every
// client's TCP connection is cut at once (what a node's death does to the
// others), and they all reconnect with their pid and offset.
type StormConfig struct {
	Clients int
	// Rate is the sender's events per second, each delivered to every
	// client. Default 5.
	Rate float64
	// DialConcurrency bounds the dials in flight, first connect and
	// reconnect alike. Default 256.
	DialConcurrency int
	// Before and After are how long events flow before the cut and after
	// the last client is back. Default 1s each.
	Before, After time.Duration
	// Deadline bounds the reconnection of every client. Default 2 minutes.
	Deadline time.Duration
}

// stormProfile is the length of the CPU profile taken from the cut
// (bench/run.sh --profile); events flow until it is taken.
const stormProfile = 5 * time.Second

// stormClient is one client across its two connections.
type stormClient struct {
	mu     sync.Mutex
	seen   []uint8 // times each sequence number was received (saturating)
	offset string
	pid    string
	c      *eioclient.Client
	// back is when its reconnection's CONNECT reply came; recovered says
	// whether it named the old pid.
	back       time.Time
	recovered  bool
	sentOffset string
	gaveUp     string // the last redial's error, when it was not back by the deadline
	dups       []string
	first      *eioclient.Client
}

func gen(first bool) int {
	if first {
		return 1
	}
	return 2
}

func isConnected(c *eioclient.Client) bool {
	select {
	case <-c.Connected():
		return true
	default:
		return false
	}
}

func (sc *stormClient) onEvent(c *eioclient.Client, args []byte) {
	_, seq, ok := eioclient.LeadingInts(args)
	off := eioclient.LastString(args)
	sc.mu.Lock()
	if ok && seq < 1<<24 {
		if uint64(len(sc.seen)) > seq && sc.seen[seq] > 0 && len(sc.dups) < 4 {
			sc.dups = append(sc.dups, fmt.Sprintf("seq %d again on connection %d (before its CONNECT reply: %v) offset %s", seq, gen(c == sc.first), !isConnected(c), off))
		}
		for uint64(len(sc.seen)) <= seq {
			sc.seen = append(sc.seen, 0)
		}
		if sc.seen[seq] < 255 {
			sc.seen[seq]++
		}
	}
	if off != "" {
		sc.offset = off
	}
	sc.mu.Unlock()
}

// Storm runs the reconnect storm. Its figures: time from the cut until 99%
// (and all) of the clients are recovered (CONNECT reply with their old
// pid), server CPU over that time, and, counted exactly from the sequence
// numbers, events lost and duplicated across every client.
func Storm(ctx context.Context, t Target, cfg StormConfig) (*Result, error) {
	res := newResult("storm", t)
	if t.Kind == KindGWS {
		res.Pending = "n/a: the bare relay stores nothing"
		return res, nil
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 5
	}
	if cfg.DialConcurrency <= 0 {
		cfg.DialConcurrency = 256
	}
	if cfg.Before <= 0 {
		cfg.Before = time.Second
	}
	if cfg.After <= 0 {
		cfg.After = time.Second
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = 2 * time.Minute
	}
	const ns = "/storm"
	clients := make([]*stormClient, cfg.Clients)
	for i := range clients {
		clients[i] = &stormClient{}
	}
	defer func() {
		for _, sc := range clients {
			if sc.c != nil {
				sc.c.Close()
			}
		}
	}()
	connect := func(i int, auth []byte) (*eioclient.Client, error) {
		sc := clients[i]
		cfg := &eioclient.Config{URL: t.URL, Namespace: ns, OnEvent: sc.onEvent, Timeout: 30 * time.Second}
		return eioclient.Dial(ctx, cfg, auth)
	}
	if err := forEach(ctx, cfg.Clients, cfg.DialConcurrency, func(i int) error {
		c, err := connect(i, nil)
		if err != nil {
			return err
		}
		clients[i].mu.Lock()
		clients[i].c, clients[i].pid, clients[i].first = c, c.PID(), c
		clients[i].mu.Unlock()
		return nil
	}); err != nil {
		return res, fmt.Errorf("failed to connect: %w", err)
	}
	if clients[0].pid == "" {
		res.Pending = "pending: the CONNECT reply carries no pid (no connection state recovery)"
		return res, nil
	}
	snd, err := newStormSender(ctx, t.URL, ns, cfg.Rate)
	if err != nil {
		return res, err
	}
	defer snd.stop()
	// Every client needs an offset: wait for the first event everywhere.
	if err := waitAll(ctx, 30*time.Second, func() bool {
		for _, sc := range clients {
			sc.mu.Lock()
			ok := sc.offset != ""
			sc.mu.Unlock()
			if !ok {
				return false
			}
		}
		return true
	}); err != nil {
		return res, fmt.Errorf("not every client got an event with an offset: %w", err)
	}
	if !sleepCtx(ctx, cfg.Before) {
		return res, ctx.Err()
	}

	// The cut: every TCP connection at once, then every client redials at
	// once (bounded by DialConcurrency), with a short random back-off on a
	// refusal, as socket.io-client does.
	var before stats.Proc
	if t.PID > 0 {
		if before, err = stats.ReadProc(t.PID); err != nil {
			return res, err
		}
	}
	if t.OnWindow != nil {
		go t.OnWindow("storm", stormProfile) // a CPU profile of the reconnections
	}
	for _, sc := range clients {
		sc.c.Close()
	}
	cut := time.Now()
	deadline := cut.Add(cfg.Deadline)
	var retries atomic.Int64
	err = forEach(ctx, cfg.Clients, cfg.DialConcurrency, func(i int) error {
		sc := clients[i]
		// The old read loop may still hand over an event it had read: the
		// offset is final once it has ended.
		select {
		case <-sc.c.Done():
		case <-time.After(5 * time.Second):
			return fmt.Errorf("client %d: the cut connection's read loop did not end", i)
		}
		sc.mu.Lock()
		auth, _ := json.Marshal(map[string]string{"pid": sc.pid, "offset": sc.offset})
		sc.sentOffset = sc.offset
		sc.mu.Unlock()
		for {
			c, err := connect(i, auth)
			if err == nil {
				sc.mu.Lock()
				sc.c, sc.back, sc.recovered = c, c.ConnectedAt(), c.PID() == sc.pid
				sc.mu.Unlock()
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Now().After(deadline) {
				sc.mu.Lock()
				sc.gaveUp = err.Error()
				sc.mu.Unlock()
				return nil // counted as not back
			}
			retries.Add(1)
			if !sleepCtx(ctx, time.Duration(100+rand.IntN(400))*time.Millisecond) {
				return ctx.Err()
			}
		}
	})
	var after stats.Proc
	if t.PID > 0 {
		after, _ = stats.ReadProc(t.PID)
	}
	if err != nil {
		return res, fmt.Errorf("reconnect: %w", err)
	}
	tail := cfg.After
	if t.OnWindow != nil { // the server must outlive the profile
		tail = max(tail, time.Until(cut.Add(stormProfile+time.Second)))
	}
	if !sleepCtx(ctx, tail) {
		return res, ctx.Err()
	}
	last, err := snd.stop()
	if err != nil {
		return res, err
	}
	// Every event is acked (stored) by now: wait (bounded) for the last
	// one to reach every client, then count.
	_ = waitAll(ctx, 30*time.Second, func() bool {
		for _, sc := range clients {
			sc.mu.Lock()
			got := sc.gaveUp != "" || uint64(len(sc.seen)) > last && sc.seen[last] > 0
			sc.mu.Unlock()
			if !got {
				return false
			}
		}
		return true
	})
	var backs []time.Duration
	lost, dup, notRecovered, notBack := 0, 0, 0, 0
	for _, sc := range clients {
		sc.mu.Lock()
		if sc.gaveUp != "" {
			if notBack++; notBack == 1 {
				res.note("storm: a client not back after %v: %s", cfg.Deadline, sc.gaveUp)
			}
			notRecovered++
			sc.mu.Unlock()
			continue
		}
		backs = append(backs, sc.back.Sub(cut))
		if !sc.recovered {
			notRecovered++
		}
		// Every client was connected before event 0 was sent.
		for seq := uint64(0); seq <= last; seq++ {
			n := 0
			if seq < uint64(len(sc.seen)) {
				n = int(sc.seen[seq])
			}
			switch {
			case n == 0:
				lost++
			case n > 1:
				dup += n - 1
				if dup <= 3 {
					res.note("storm: event %d reached a client %d times (offset sent on redial %s): %v", seq, n, sc.sentOffset, sc.dups)
				}
			}
		}
		sc.mu.Unlock()
	}
	sort.Slice(backs, func(i, j int) bool { return backs[i] < backs[j] })
	m := res.Metrics
	if k := (cfg.Clients*99+99)/100 - 1; k < len(backs) {
		m["storm.ms_to_99pct"] = float64(backs[k].Microseconds()) / 1000
	}
	if notBack == 0 {
		m["storm.ms_to_all"] = float64(backs[len(backs)-1].Microseconds()) / 1000
	}
	m["storm.not_back"] = float64(notBack)
	m["storm.recovered_pct"] = 100 * float64(cfg.Clients-notRecovered) / float64(cfg.Clients)
	m["storm.events_lost"] = float64(lost)
	m["storm.events_duplicated"] = float64(dup)
	m["storm.events_sent"] = float64(last + 1)
	m["storm.redials_failed"] = float64(retries.Load())
	if t.PID > 0 {
		cpu := stats.CPUSeconds(before, after)
		m["storm.server_cpu_s"] = cpu
		m["storm.cpu_us_per_reconnect"] = cpu * 1e6 / float64(cfg.Clients)
	}
	if lost > 0 {
		res.note("storm: %d events lost over the %d clients back", lost, len(backs))
	}
	if t.Kind == KindSockbus && notRecovered > 0 {
		// Why: the server's recovery outcomes (a session found live
		// elsewhere is not counted there).
		res.note("storm: sockbus recovery outcomes: %s", recoveryOutcomes(t.URL))
	}
	return res, nil
}

// recoveryOutcomes returns sockbus's sockbus_recoveries_total lines from
// /metrics, or why not.
func recoveryOutcomes(base string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.Contains(line, "recoveries_total{") && !strings.HasSuffix(line, " 0") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "; ")
}

// stormSender emits `["s",T,seq]` with acks at a fixed rate.
type stormSender struct {
	c      *eioclient.Client
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	acked  map[int64]bool
	next   int64
	err    error
}

func newStormSender(ctx context.Context, url, ns string, rate float64) (*stormSender, error) {
	s := &stormSender{acked: map[int64]bool{}, done: make(chan struct{})}
	c, err := eioclient.Dial(ctx, &eioclient.Config{URL: url, Namespace: ns,
		OnAck: func(_ *eioclient.Client, id int64, _ []byte) {
			s.mu.Lock()
			s.acked[id] = true
			s.mu.Unlock()
		}}, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to connect the sender: %w", err)
	}
	s.c = c
	ctx, s.cancel = context.WithCancel(ctx)
	go s.run(ctx, time.Duration(float64(time.Second)/rate))
	return s, nil
}

func (s *stormSender) run(ctx context.Context, every time.Duration) {
	defer close(s.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var frame, args []byte
	for {
		s.mu.Lock()
		seq := s.next
		s.mu.Unlock()
		args = append(args[:0], `["s",`...)
		args = strconv.AppendInt(args, now(), 10)
		args = append(args, ',')
		args = strconv.AppendInt(args, seq, 10)
		args = append(args, ']')
		frame = eioclient.AppendEvent(frame[:0], s.c.Prefix(), seq, args)
		if err := s.c.Send(frame); err != nil {
			s.mu.Lock()
			s.err = fmt.Errorf("sender: %w", err)
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		s.next++
		s.mu.Unlock()
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// stop ends the sending, waits (bounded) for every ack, and returns the
// last sequence number sent.
func (s *stormSender) stop() (uint64, error) {
	if s.cancel == nil {
		return 0, errors.New("sender stopped twice")
	}
	s.cancel()
	s.cancel = nil
	<-s.done
	defer s.c.Close()
	s.mu.Lock()
	n, err := s.next, s.err
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, errors.New("sender sent nothing")
	}
	werr := waitAll(context.Background(), 30*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.acked) == int(n)
	})
	if werr != nil {
		return 0, fmt.Errorf("sender: not every event acked: %w", werr)
	}
	return uint64(n - 1), nil
}

// forEach runs fn(0..n-1) on at most conc goroutines and returns the first
// error (the others still run to the end of their current call).
func forEach(ctx context.Context, n, conc int, fn func(i int) error) error {
	var (
		next     atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for w := 0; w < min(conc, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				mu.Lock()
				failed := firstErr != nil
				mu.Unlock()
				if failed {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// waitAll polls cond every 10 ms until it holds or d passes.
func waitAll(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %v", d)
		}
		if !sleepCtx(ctx, 10*time.Millisecond) {
			return ctx.Err()
		}
	}
	return nil
}
