package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/sockbus/sockbus/bus"
	conf "github.com/sockbus/sockbus/config"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/webhook"
	"github.com/sockbus/sockbus/wsedge/channels"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// checkWebhooks reads --webhook-* before anything starts: http(s) URLs,
// a secret, known event types.
func checkWebhooks(c conf.Config) (webhook.Events, error) {
	if len(c.WebhookURLs) == 0 {
		return webhook.Events{}, nil
	}
	for _, u := range c.WebhookURLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return webhook.Events{}, errors.New("bad --webhook-url: each must be an absolute http or https URL")
		}
	}
	if c.WebhookSecret == "" {
		return webhook.Events{}, errors.New("--webhook-url needs --webhook-secret: receivers must be able to check each POST's signature")
	}
	ev, err := webhook.ParseEvents(c.WebhookEvents)
	if err != nil {
		return webhook.Events{}, fmt.Errorf("bad --webhook-events: %w", err)
	}
	return ev, nil
}

// webhookConfig is the webhook package's share; events come from preflight.
func webhookConfig(c conf.Config, events webhook.Events, counters *metrics.Set, logger *slog.Logger) webhook.Config {
	node := c.NodeName
	if node == "" {
		node, _ = os.Hostname()
	}
	return webhook.Config{
		URLs: c.WebhookURLs, Secret: c.WebhookSecret, Events: events, Node: node,
		Timeout: c.WebhookTimeout, MaxBackoff: c.WebhookMaxBackoff, MaxAge: c.WebhookMaxAge, MaxPayload: int(c.MaxMessageBytes),
		Logger: logger, Metrics: counters,
	}
}

// busWebhooks is the webhook stream's share of the bus's config: the
// receivers' queues and the stream's bounds (zero without --webhook-url).
func busWebhooks(c conf.Config) bus.WebhookConfig {
	if len(c.WebhookURLs) == 0 {
		return bus.WebhookConfig{}
	}
	wc := webhook.Config{URLs: c.WebhookURLs}
	return bus.WebhookConfig{
		Receivers:  wc.ReceiverKeys(),
		Partitions: int(c.WebhookPartitions),
		MaxAge:     c.WebhookMaxAge,
		MaxBytes:   c.WebhookMaxBytes,
		AckWait:    webhook.AckWait,
	}
}

// webhooks is the node's webhook publisher (an observer of the Socket.IO
// server) and its share of the deliveries; nil without --webhook-url.
type webhooks struct {
	unobserve, unobserveChannels func()
	deliverer                    *webhook.Deliverer
}

// startWebhooks publishes io's and ch's events and starts this node's deliveries.
func startWebhooks(cfg webhook.Config, b *bus.Bus, io *socketio.Server, ch *channels.Server) (*webhooks, error) {
	if !cfg.On() {
		return nil, nil
	}
	d, err := webhook.StartDeliverer(b, cfg)
	if err != nil {
		return nil, err
	}
	p := webhook.NewPublisher(b, cfg)
	return &webhooks{unobserve: io.Observe(p.Observer()), unobserveChannels: ch.Observe(p.ChannelObserver()), deliverer: d}, nil
}

// close stops publishing (the sockets' disconnects at shutdown are
// published first) and hands back the events being retried.
func (w *webhooks) close() {
	if w == nil {
		return
	}
	w.unobserve()
	w.unobserveChannels()
	w.deliverer.Close()
}

// webhookBacklog reads the webhook stream at each scrape (nil without
// webhooks: no metric).
func webhookBacklog(b *bus.Bus) func() (msgs, bytes uint64, ok bool) {
	if b.WebhookPartitions() == 0 {
		return nil
	}
	return func() (uint64, uint64, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m, by, err := b.WebhookBacklog(ctx)
		return m, by, err == nil
	}
}
