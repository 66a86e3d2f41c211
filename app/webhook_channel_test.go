package app

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/wstest"
)

// TestWebhookChannelConnections: a plain WebSocket connection's open, its
// text and binary messages and its close each reach a real receiver once,
// in order, signed, with "channel" (no "namespace"), the connection id, the
// authenticated user and the node; with --webhook-events disconnect, only
// the close is sent.
func TestWebhookChannelConnections(t *testing.T) {
	r := newReceiver(t, nil)
	s := startServer(t, webhookTo(r.url), func(c *config) {
		c.AuthJWTKey = testJWTSecret
		c.NodeName = "hook-node"
	})
	token := signHS(t, testJWTSecret, aliceClaims(time.Now().Add(time.Hour)))
	c := wstest.Dial(t, s.ws("/ws/lobby?token="+token))
	c.SendText(t, "hi")
	c.SendBinary(t, []byte{0, 1, 2})
	r.waitFor(t, 3, wait)
	c.Close()
	evs := r.waitFor(t, 4, wait)
	conn := evs[0].Socket
	want := []string{"connect", "event:hi", "event:base64:AAEC", "disconnect"}
	if got := bySocket(evs)[conn]; !slices.Equal(got, want) || len(evs) != len(want) {
		t.Fatalf("connection %s got %q (of %d events), want %q", conn, got, len(evs), want)
	}
	for _, e := range evs {
		if e.User == nil || *e.User != "alice" || e.Node != "hook-node" || e.Channel != "lobby" || e.Namespace != "" || e.ID == "" || conn == "" {
			t.Errorf("event %+v: want user alice, node hook-node, channel lobby, no namespace, an id", e)
		}
	}
	if evs[3].Reason != "client_close" {
		t.Errorf("disconnect reason %q, want client_close", evs[3].Reason)
	}

	only := newReceiver(t, nil)
	s2 := startServer(t, webhookTo(only.url), func(c *config) { c.WebhookEvents = []string{"disconnect"} })
	c2 := wstest.Dial(t, s2.ws("/ws/lobby"))
	c2.SendText(t, "not sent")
	c2.Close()
	evs = only.waitFor(t, 1, wait)
	if evs[0].Type != "disconnect" || !evs[0].hasUser || evs[0].User != nil {
		t.Fatalf("got %+v, want the disconnect alone, user null", evs[0])
	}
	eventually.True(t, wait, "the disconnect counted delivered", func() bool {
		return scrape(t, "http://"+s2.addr+"/metrics")[`sockbus_webhooks_total{outcome="delivered"}`] == 1
	})
	if n := len(only.events()); n != 1 {
		t.Fatalf("%d events with --webhook-events disconnect, want 1", n)
	}
}

// TestWebhookChannelBigMessages: a channel message whose event would not
// fit in what the bus stores (a binary frame near --max-message-bytes
// grows by a third in base64; control characters by six in JSON) is
// still reported, with "data_omitted": true instead of its data; one that
// fits comes whole; nothing goes unstored.
func TestWebhookChannelBigMessages(t *testing.T) {
	r := newReceiver(t, nil)
	const limit = 256 << 10
	s := startServer(t, webhookTo(r.url), func(c *config) { c.MaxMessageBytes = limit })
	c := wstest.Dial(t, s.ws("/ws/big"))
	c.SendBinary(t, bytes.Repeat([]byte{0xff}, limit-1024))
	text := strings.Repeat("a", limit-1024)
	c.SendText(t, text)
	c.SendText(t, strings.Repeat("\x01", 100<<10))
	// Taken before the close: closing with its echoes unread resets the
	// connection, and the server may lose frames it had not read yet.
	r.waitFor(t, 4, 10*time.Second)
	c.Close()
	evs := r.waitFor(t, 5, 10*time.Second)
	type shape struct {
		typ     string
		data    int
		omitted bool
	}
	var got []shape
	for _, e := range evs {
		sh := shape{typ: e.Type, omitted: e.DataOmitted, data: -1}
		if e.Data != nil {
			sh.data = len(*e.Data)
		}
		if e.DataBase64 != nil {
			sh.data = len(*e.DataBase64)
		}
		got = append(got, sh)
	}
	want := []shape{{"connect", -1, false}, {"event", -1, true}, {"event", len(text), false}, {"event", -1, true}, {"disconnect", -1, false}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if n := scrape(t, "http://"+s.addr+"/metrics")[`sockbus_webhooks_total{outcome="not_stored"}`]; n != 0 {
		t.Fatalf("%v webhook events not stored", n)
	}
}
