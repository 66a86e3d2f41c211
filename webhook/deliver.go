package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/metrics"
)

// Headers of a delivery.
const (
	// SignatureHeader is "sha256=" and the hex HMAC-SHA256 of the body
	// with Config.Secret.
	SignatureHeader = "Sockbus-Signature"
	// IDHeader repeats the body's "id".
	IDHeader = "Sockbus-Webhook-Id"
	// AttemptHeader counts this node's attempts at the event, from 1.
	AttemptHeader = "Sockbus-Webhook-Attempt"
	// NodeHeader names the node delivering (the body's "node" is where
	// the event happened).
	NodeHeader = "Sockbus-Webhook-Node"
)

// fetchWait bounds one pull request: a stopping deliverer waits at most
// this for its loops.
const fetchWait = 2 * time.Second

// queueMovingWait is the pause before asking a queue again whose server
// was stopping (or that has no leader yet): a new leader is elected in
// tens of milliseconds. Past queueMovingGrace it is warned about.
const (
	queueMovingWait  = 100 * time.Millisecond
	queueMovingGrace = 5 * time.Second
)

// Deliverer runs this node's share of the deliveries: one loop per
// receiver and partition, each taking the next event from the shared
// queue, POSTing it until the receiver takes it, then acking it.
type Deliverer struct {
	b      *bus.Bus
	cfg    Config
	client *http.Client
	warn   *ratelog.Logger
	m      *metrics.Set
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartDeliverer starts the loops on b (started with the webhook stream
// for cfg.ReceiverKeys()). Close stops them.
func StartDeliverer(b *bus.Bus, cfg Config) (*Deliverer, error) {
	cfg = cfg.withDefaults()
	parts := b.WebhookPartitions()
	d := &Deliverer{
		b:   b,
		cfg: cfg,
		client: &http.Client{
			Timeout: cfg.Timeout,
			// A redirect is an answer that is not 2xx: retried, not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				MaxIdleConnsPerHost: parts,
				IdleConnTimeout:     90 * time.Second,
			},
		},
		warn: ratelog.New(cfg.Logger, 0),
		m:    cfg.Metrics,
	}
	var queues []*bus.WebhookQueue
	var urls []string
	for _, u := range cfg.URLs {
		for p := range parts {
			q, err := b.WebhookQueue(ReceiverKey(u), p)
			if err != nil {
				return nil, fmt.Errorf("failed to start webhook deliveries: %w", err)
			}
			queues, urls = append(queues, q), append(urls, u)
		}
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for i, q := range queues {
		d.wg.Add(1)
		go d.loop(urls[i], q)
	}
	return d, nil
}

// Close stops the loops: an event being retried is handed back to the
// queue for another node (or this one's next start). It waits for them.
func (d *Deliverer) Close() {
	d.cancel()
	d.wg.Wait()
	d.client.CloseIdleConnections()
}

func (d *Deliverer) loop(u string, q *bus.WebhookQueue) {
	defer d.wg.Done()
	var moving time.Time // since when the queue has been moving; zero: it is not
	for d.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(d.ctx, fetchWait)
		m, err := q.Next(ctx)
		cancel()
		if !errors.Is(err, bus.ErrWebhookQueueMoving) {
			moving = time.Time{}
		} else if moving.IsZero() {
			moving = time.Now()
		}
		switch {
		case errors.Is(err, bus.ErrNoWebhook):
			continue
		case errors.Is(err, bus.ErrWebhookQueueMoving) && time.Since(moving) < queueMovingGrace:
			d.sleep(queueMovingWait) // a peer stopping: its queues get new leaders, no warning
			continue
		case err != nil:
			if d.ctx.Err() == nil {
				d.warn.Warn("webhook queue unreadable; retrying", "err", err)
				d.sleep(time.Second)
			}
			continue
		}
		d.deliver(u, m)
	}
}

// deliver POSTs m until u takes it, m is too old, or the deliverer stops.
func (d *Deliverer) deliver(u string, m *bus.WebhookMsg) {
	body := withID(m.ID, m.Data)
	sig := Sign(d.cfg.Secret, body)
	defer d.keep(m)()
	for attempt := 1; ; attempt++ {
		if age := time.Since(m.Stored); age > d.cfg.MaxAge {
			_ = m.Drop()
			d.m.Webhook(metrics.WebhookExpired)
			d.warn.Warn("webhook event given up: older than --webhook-max-age", "url", redact(u), "id", m.ID, "age", age.Round(time.Second))
			return
		}
		status, err := d.post(u, body, sig, m.ID, attempt)
		if err == nil {
			if err := d.ack(m); err != nil && d.ctx.Err() == nil {
				// Delivered, not acked: it comes again; the receiver dedupes by id.
				d.warn.Warn("webhook delivered but not acked; it will be sent again", "id", m.ID, "err", err)
			}
			d.m.Webhook(metrics.WebhookDelivered)
			return
		}
		if d.ctx.Err() != nil {
			_ = m.Release()
			return
		}
		d.m.Webhook(metrics.WebhookFailed)
		d.warn.Warn("webhook delivery failed; retrying", "url", redact(u), "id", m.ID, "attempt", attempt, "status", status, "err", err)
		if !d.sleep(d.backoff(attempt)) {
			_ = m.Release()
			return
		}
	}
}

// keep renews m every keepEvery, so that no other node takes it while
// this one holds it (a POST can outlast AckWait), until the returned stop.
func (d *Deliverer) keep(m *bus.WebhookMsg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(keepEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = m.InProgress()
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (d *Deliverer) ack(m *bus.WebhookMsg) error {
	ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
	defer cancel()
	return m.Ack(ctx)
}

// errStatus is a receiver's answer that is not 2xx.
var errStatus = errors.New("webhook: receiver answered with a status that is not 2xx")

func (d *Deliverer) post(u string, body []byte, sig, id string, attempt int) (int, error) {
	req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sockbus-webhook")
	req.Header.Set(IDHeader, id)
	req.Header.Set(AttemptHeader, strconv.Itoa(attempt))
	req.Header.Set(NodeHeader, d.cfg.Node)
	if sig != "" {
		req.Header.Set(SignatureHeader, sig)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	// Read a little so the connection can be reused; the answer is not used.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, errStatus
	}
	return resp.StatusCode, nil
}

// backoff is the wait after attempt failed: FirstBackoff doubling, at most
// MaxBackoff.
func (d *Deliverer) backoff(attempt int) time.Duration {
	w := d.cfg.FirstBackoff << min(attempt-1, 20)
	return min(w, d.cfg.MaxBackoff)
}

// sleep waits for w or the deliverer's stop; false when stopped.
func (d *Deliverer) sleep(w time.Duration) bool {
	t := time.NewTimer(w)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-d.ctx.Done():
		return false
	}
}

// withID is the stored event with "id" first: {"id":"<id>",…}.
func withID(id string, stored []byte) []byte {
	out := make([]byte, 0, len(stored)+len(id)+8)
	out = append(out, `{"id":"`...)
	out = append(out, id...) // epoch and sequence: no byte needs escaping
	out = append(out, '"')
	if len(stored) > 2 {
		out = append(out, ',')
	}
	return append(out, stored[1:]...)
}

// Sign is the SignatureHeader value of body with secret ("" without one).
func Sign(secret string, body []byte) string {
	if secret == "" {
		return ""
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// redact is a URL for logs: without its credentials and query.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String()
}
