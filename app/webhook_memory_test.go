package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/webhook"
)

// storeWebhooks stores n webhook events of about size bytes each in s's
// webhook stream, as the node's Publisher does, spread over many socket
// ids (so over every partition), in batches that wait for their acks.
func storeWebhooks(t *testing.T, s *testServer, from, n, size int) {
	t.Helper()
	args, _ := json.Marshal([]string{strings.Repeat("x", size)})
	var acked, failed atomic.Int64
	const batch = 200
	for done := 0; done < n; {
		k := min(batch, n-done)
		acked.Store(0)
		for i := range k {
			sid := fmt.Sprintf("sock-%d", (from+done+i)%97)
			name := "tick"
			body, err := json.Marshal(webhook.Payload{Type: webhook.TypeEvent, Time: time.Now().UTC().Format(time.RFC3339Nano),
				Node: "n", Namespace: "/", Socket: sid, Event: &name, Args: args})
			if err == nil {
				err = s.bus.PublishWebhook(sid, body, func(err error) {
					if err != nil {
						failed.Add(1)
					}
					acked.Add(1)
				})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		eventually.True(t, 30*time.Second, "a batch of webhook events stored", func() bool { return acked.Load() == int64(k) })
		done += k
	}
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d webhook events not stored", f)
	}
}

// TestWebhookBacklogCostsDiskNotMemory: a receiver that never recovers
// (500 to everything) while 24 MB of events pile up for it: the process's
// live heap grows by much less than the backlog (each queue holds one
// event at a time; the rest stays on disk), the stream keeps at most
// --webhook-max-bytes (the oldest dropped; the backlog gauges say so), and
// past --webhook-max-age the backlog is gone and counted expired.
func TestWebhookBacklogCostsDiskNotMemory(t *testing.T) {
	r := newReceiver(t, func(int) int { return http.StatusInternalServerError })
	const maxBytes, maxAge = 16 << 20, 20 * time.Second
	s := startServer(t, webhookTo(r.url), func(c *config) {
		c.WebhookMaxBytes = maxBytes
		c.WebhookMaxAge = maxAge
		c.PresenceTTL = 0 // not what is measured
	})
	metricsURL := "http://" + s.addr + "/metrics"
	failed := func() float64 { return scrape(t, metricsURL)[`sockbus_webhooks_total{outcome="failed"}`] }
	// Warm up: every queue retrying an event, the stream's files open.
	storeWebhooks(t, s, 0, 200, 4<<10)
	eventually.True(t, 20*time.Second, "the queues retrying", func() bool { return failed() >= 32 })
	before := heapInUse()

	const n, size = 6000, 4 << 10
	t0 := time.Now()
	storeWebhooks(t, s, 200, n, size)
	t.Logf("%d events of %d KiB stored in %v", n, size>>10, time.Since(t0).Round(time.Millisecond))
	retried := failed()
	eventually.True(t, 20*time.Second, "the queues still retrying", func() bool { return failed() >= retried+32 })
	after := heapInUse()
	growth := int64(after) - int64(before)
	m := scrape(t, metricsURL)
	backlog, backlogBytes := m["sockbus_webhook_backlog"], m["sockbus_webhook_backlog_bytes"]
	t.Logf("live heap %d MiB before, %d MiB after (%+d KiB) with a backlog of %.0f events, %.1f MiB on disk",
		before>>20, after>>20, growth>>10, backlog, backlogBytes/(1<<20))
	// Half of what was stored: the stream's file store caches a block or
	// two (measured +4.5 and +5.6 MiB); a stream kept in memory adds its
	// whole 16 MiB (measured +26 MiB).
	const heapBound = 12 << 20
	if growth > heapBound {
		t.Errorf("live heap grew by %d MiB for a backlog the receiver never takes, want under %d MiB", growth>>20, heapBound>>20)
	}
	if backlogBytes > maxBytes || backlogBytes < maxBytes/2 {
		t.Errorf("backlog %.0f bytes, want up to --webhook-max-bytes %d and near it", backlogBytes, maxBytes)
	}
	if backlog >= n {
		t.Errorf("backlog %.0f events: the oldest of %d were not dropped at %d bytes", backlog, n+200, maxBytes)
	}
	eventually.True(t, maxAge+30*time.Second, "the backlog gone after --webhook-max-age", func() bool {
		m := scrape(t, metricsURL)
		return m["sockbus_webhook_backlog"] == 0 && m[`sockbus_webhooks_total{outcome="expired"}`] >= 1
	})
	if got := len(r.events()); got != 0 {
		t.Fatalf("a receiver answering 500 accepted %d events", got)
	}
}
