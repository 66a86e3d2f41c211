package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockbus/sockbus/bench/internal/eioclient"
)

// KillConfig is a node lost mid-stream: Receivers spread over the nodes,
// one sender on node 0 emitting acknowledged events at Rate; after Before,
// node Victim is SIGKILLed; its clients reconnect at once to the others
// with their session (pid and last offset); the flow goes on for After.
// Loss is counted exactly per client from the sequence numbers in the
// payload, against the events the sender got a (non-error) ack for.
type KillConfig struct {
	// Name prefixes the figures. Default "kill".
	Name      string
	Receivers int
	Rate      float64
	Before    time.Duration
	After     time.Duration
	// Victim is the node killed (never 0, the sender's). Default the last.
	Victim int
	// Drain bounds the wait for late events and acks once the sender
	// stopped. Default 30 s (above sockbus's 15 s --store-timeout).
	Drain        time.Duration
	PayloadBytes int
}

// killRecv is one receiver across its connections.
type killRecv struct {
	idx  int
	node int // at the start

	mu        sync.Mutex
	seen      *seqSet
	offset    string
	pid       string // of the first session
	client    *eioclient.Client
	moved     bool
	recovered bool
	backAt    time.Time
	lastNew   time.Time
	reconnect int
	fresh     int    // reconnections that got a new session
	lastSeq   uint64 // of the last event received
	resumedAt string // the offset of the first reconnection, and the seq it followed
	resumeSeq uint64
}

// killRun is the state shared by the receivers of one run.
type killRun struct {
	t        Target
	cfg      KillConfig
	ns       string
	victim   int
	killed   atomic.Bool
	stopping atomic.Bool
	maxLat   atomic.Int64
	recvs    []*killRecv
	wg       sync.WaitGroup // reconnections in progress
	ctx      context.Context
	errs     atomic.Int64
}

func (k *killRun) config(r *killRecv, url string) *eioclient.Config {
	return &eioclient.Config{URL: url, Namespace: k.ns,
		OnEvent: func(_ *eioclient.Client, args []byte) { k.onEvent(r, args) },
		OnClose: func(c *eioclient.Client, _ error) { k.onClose(r, c) }}
}

func (k *killRun) onEvent(r *killRecv, args []byte) {
	ts, seq, ok := eioclient.LeadingInts(args)
	if !ok {
		return
	}
	if lat := now() - int64(ts); lat > k.maxLat.Load() {
		k.maxLat.Store(lat) // racy max: good enough for a figure in ms
	}
	off := eioclient.LastString(args)
	r.mu.Lock()
	if r.seen.add(seq) {
		r.lastNew = time.Now()
	}
	r.lastSeq = seq
	if off != "" {
		r.offset = off
	}
	r.mu.Unlock()
}

// onClose reconnects a receiver whose connection the server cut, to a
// surviving node, with its session.
func (k *killRun) onClose(r *killRecv, c *eioclient.Client) {
	if k.stopping.Load() {
		return
	}
	r.mu.Lock()
	current := r.client == c
	r.mu.Unlock()
	if !current {
		return
	}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		k.reconnect(r)
	}()
}

func (k *killRun) survivor(i int) string {
	var alive []string
	for n, u := range k.t.Nodes {
		if n != k.victim || !k.killed.Load() {
			alive = append(alive, u)
		}
	}
	return alive[i%len(alive)]
}

// connect joins r's namespace on url and makes the connection r's current
// one, whose close (from then on) starts a reconnection.
func (k *killRun) connect(r *killRecv, url string, auth []byte) (*eioclient.Client, error) {
	c, err := eioclient.Start(k.config(r, url), auth)
	if err != nil {
		return nil, err
	}
	if err := c.WaitConnected(k.ctx); err != nil {
		c.Close()
		return nil, err
	}
	r.mu.Lock()
	r.client = c
	r.mu.Unlock()
	select {
	case <-c.Done(): // closed before it was current: nobody reconnects it
		return nil, fmt.Errorf("connection to %s closed at once", url)
	default:
		return c, nil
	}
}

func (k *killRun) reconnect(r *killRecv) {
	for attempt := 0; attempt < 300 && !k.stopping.Load() && k.ctx.Err() == nil; attempt++ {
		r.mu.Lock()
		auth, _ := json.Marshal(map[string]string{"pid": r.pid, "offset": r.offset})
		if !r.moved && attempt == 0 {
			r.resumedAt, r.resumeSeq = r.offset, r.lastSeq
		}
		r.mu.Unlock()
		c, err := k.connect(r, k.survivor(r.idx+attempt), auth)
		if err != nil {
			if !sleepCtx(k.ctx, 100*time.Millisecond) {
				return
			}
			continue
		}
		r.mu.Lock()
		if !r.moved {
			r.moved, r.backAt, r.recovered = true, c.ConnectedAt(), r.pid != "" && c.PID() == r.pid
		}
		r.reconnect++
		if r.pid == "" || c.PID() != r.pid {
			r.fresh++
		}
		r.pid = c.PID() // a new session (not recovered) is the one to keep from now on
		r.mu.Unlock()
		return
	}
	k.errs.Add(1)
}

// killSender emits the numbered, acknowledged events and keeps their fate.
type killSender struct {
	mu      sync.Mutex
	acked   *seqSet
	refused int
	sentAt  map[int64]time.Time
	maxAck  time.Duration
}

func (s *killSender) onAck(_ *eioclient.Client, id int64, args []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.sentAt[id]
	if !ok {
		return
	}
	delete(s.sentAt, id)
	s.maxAck = max(s.maxAck, time.Since(at))
	if bytes.Contains(args, []byte(`"error"`)) {
		s.refused++
		return
	}
	s.acked.add(uint64(id))
}

// Kill runs the node loss. It needs Target.Nodes (two or more) and Kill.
func Kill(ctx context.Context, t Target, cfg KillConfig) (*Result, error) {
	if cfg.Name == "" {
		cfg.Name = "kill"
	}
	res := newResult(cfg.Name, t)
	if len(t.Nodes) < 2 || t.Kill == nil {
		return res, fmt.Errorf("%s: needs a cluster of two or more nodes", cfg.Name)
	}
	if cfg.Victim <= 0 || cfg.Victim >= len(t.Nodes) {
		cfg.Victim = len(t.Nodes) - 1
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 30 * time.Second
	}
	if cfg.PayloadBytes <= 0 {
		cfg.PayloadBytes = 64
	}
	total := int(cfg.Rate*(cfg.Before+cfg.After).Seconds()) + 1
	k := &killRun{t: t, cfg: cfg, ns: "/" + cfg.Name, victim: cfg.Victim, ctx: ctx}
	defer func() {
		k.stopping.Store(true)
		k.wg.Wait()
		var cs []*eioclient.Client
		for _, r := range k.recvs {
			r.mu.Lock()
			cs = append(cs, r.client)
			r.mu.Unlock()
		}
		closeAll(cs)
	}()
	if err := k.dial(ctx, total); err != nil {
		return res, err
	}
	snd := &killSender{acked: newSeqSet(total), sentAt: map[int64]time.Time{}}
	sender, err := eioclient.Dial(ctx, &eioclient.Config{URL: t.Nodes[0], Namespace: k.ns, OnAck: snd.onAck}, nil)
	if err != nil {
		return res, fmt.Errorf("failed to connect the sender: %w", err)
	}
	defer closeAll([]*eioclient.Client{sender})

	killAt, sent, err := k.send(ctx, sender, snd, total)
	if err != nil {
		return res, err
	}
	k.drain(ctx, snd)
	k.stopping.Store(true)
	k.report(res, snd, killAt, sent)
	return res, nil
}

// dial connects the receivers, receiver i to node i mod len(Nodes).
func (k *killRun) dial(ctx context.Context, total int) error {
	k.recvs = make([]*killRecv, k.cfg.Receivers)
	for i := range k.recvs {
		k.recvs[i] = &killRecv{idx: i, node: i % len(k.t.Nodes), seen: newSeqSet(total)}
	}
	sem := make(chan struct{}, 32)
	errs := make(chan error, len(k.recvs))
	var wg sync.WaitGroup
	for _, r := range k.recvs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := k.connect(r, k.t.Nodes[r.node], nil)
			if err == nil {
				r.mu.Lock()
				r.pid = c.PID()
				r.mu.Unlock()
			}
			if err != nil {
				errs <- fmt.Errorf("receiver %d: %w", r.idx, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("failed to connect receivers: %w", err)
	}
	return nil
}

// send emits total events at Rate, SIGKILLing the victim after Before.
func (k *killRun) send(ctx context.Context, sender *eioclient.Client, snd *killSender, total int) (killAt time.Time, sent int, err error) {
	interval := time.Duration(float64(time.Second) / k.cfg.Rate)
	start := time.Now()
	pad := padding(k.cfg.PayloadBytes)
	frame := make([]byte, 0, 256)
	args := make([]byte, 0, 128)
	for sent < total {
		if ctx.Err() != nil {
			return killAt, sent, ctx.Err()
		}
		if killAt.IsZero() && time.Since(start) >= k.cfg.Before {
			killAt = time.Now()
			k.killed.Store(true)
			if err := k.t.Kill(k.victim); err != nil {
				return killAt, sent, fmt.Errorf("failed to kill node %d: %w", k.victim, err)
			}
		}
		args = append(args[:0], `["k",`...)
		args = strconv.AppendInt(args, now(), 10)
		args = append(args, ',')
		args = strconv.AppendInt(args, int64(sent), 10)
		args = append(args, `,"`...)
		args = append(append(args, pad...), `"]`...)
		frame = eioclient.AppendEvent(frame[:0], sender.Prefix(), int64(sent), args)
		snd.mu.Lock()
		snd.sentAt[int64(sent)] = time.Now()
		snd.mu.Unlock()
		if err := sender.Send(frame); err != nil {
			return killAt, sent, fmt.Errorf("sender: %w", err)
		}
		sent++
		if d := time.Until(start.Add(time.Duration(sent) * interval)); d > 0 {
			time.Sleep(d)
		}
	}
	if killAt.IsZero() {
		return killAt, sent, fmt.Errorf("the flow ended before the kill (Before %v too long for %d events)", k.cfg.Before, total)
	}
	return killAt, sent, nil
}

// drain waits (bounded) for the last acks and for every receiver to hold
// every acknowledged event, or for two quiet seconds once the acks are in.
func (k *killRun) drain(ctx context.Context, snd *killSender) {
	deadline := time.Now().Add(k.cfg.Drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if k.drained(snd) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (k *killRun) drained(snd *killSender) bool {
	snd.mu.Lock()
	defer snd.mu.Unlock()
	if len(snd.sentAt) > 0 {
		return false
	}
	complete, last := true, time.Time{}
	for _, r := range k.recvs {
		r.mu.Lock()
		if r.seen.missing(snd.acked) > 0 {
			complete = false
		}
		if r.lastNew.After(last) {
			last = r.lastNew
		}
		r.mu.Unlock()
	}
	return complete || time.Since(last) > 2*time.Second
}

func (k *killRun) report(res *Result, snd *killSender, killAt time.Time, sent int) {
	k.wg.Wait()
	m, p := res.Metrics, k.cfg.Name+"."
	snd.mu.Lock()
	acked, refused, unacked, maxAck := snd.acked, snd.refused, len(snd.sentAt), snd.maxAck
	snd.mu.Unlock()
	var back, recovered []time.Duration
	onVictim, moved, lostTotal, lostMoved, lostMax, dups, lostStayed := 0, 0, 0, 0, 0, 0, 0
	noted, fresh := 0, 0
	for _, r := range k.recvs {
		r.mu.Lock()
		lost := r.seen.missing(acked)
		if lost > 0 && noted < 5 {
			noted++
			res.note("%s: receiver %d (node %d, moved %v, recovered %v, %d reconnections, %d of them a new session, back %v after the kill, resumed after seq %d at offset %q) lost %v",
				k.cfg.Name, r.idx, r.node+1, r.moved, r.recovered, r.reconnect, r.fresh, r.backAt.Sub(killAt).Round(time.Millisecond),
				r.resumeSeq, r.resumedAt, r.seen.lacking(acked, 10))
		}
		fresh += r.fresh
		lostTotal += lost
		lostMax = max(lostMax, lost)
		dups += r.seen.dups
		if r.node == k.victim {
			onVictim++
		}
		if r.moved {
			moved++
			lostMoved += lost
			back = append(back, r.backAt.Sub(killAt))
			if r.recovered {
				recovered = append(recovered, r.backAt.Sub(killAt))
			}
		} else {
			lostStayed += lost
		}
		r.mu.Unlock()
	}
	m[p+"events_sent"] = float64(sent)
	m[p+"events_acked"] = float64(acked.distinct)
	m[p+"events_refused"] = float64(refused)
	m[p+"events_unacked"] = float64(unacked)
	m[p+"ack_max_ms"] = float64(maxAck) / 1e6
	m[p+"delivery_max_ms"] = float64(k.maxLat.Load()) / 1e6
	m[p+"clients_moved"] = float64(moved)
	m[p+"new_sessions"] = float64(fresh)
	m[p+"lost_total"] = float64(lostTotal)
	m[p+"lost_max"] = float64(lostMax)
	m[p+"lost_stayed"] = float64(lostStayed)
	m[p+"duplicates"] = float64(dups)
	if moved > 0 {
		m[p+"lost_per_moved_client"] = float64(lostMoved) / float64(moved)
		m[p+"recovered_pct"] = 100 * float64(len(recovered)) / float64(moved)
	}
	if d, ok := timeToShare(back, onVictim, 0.99); ok {
		m[p+"ms_to_99pct_back"] = d.Seconds() * 1000
	} else {
		res.note("%s: %d of the killed node's %d clients back on another node", k.cfg.Name, len(back), onVictim)
	}
	if d, ok := timeToShare(recovered, onVictim, 0.99); ok {
		m[p+"ms_to_99pct_recovered"] = d.Seconds() * 1000
	} else {
		res.note("%s: %d of the killed node's %d clients recovered their session (the rest got a new one)", k.cfg.Name, len(recovered), onVictim)
	}
	if n := k.errs.Load(); n > 0 {
		res.note("%s: %d clients could not reconnect", k.cfg.Name, n)
	}
	if unacked > 0 || refused > 0 {
		res.note("%s: %d events refused, %d unanswered at the end (not counted as lost)", k.cfg.Name, refused, unacked)
	}
}
