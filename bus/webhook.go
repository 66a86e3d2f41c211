package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// WebhookConfig turns on the webhook stream (package webhook): events
// waiting to be POSTed to receivers, stored when they happen and kept until
// every receiver took them, or until they pass MaxAge or MaxBytes. The zero
// value (no Receivers) creates nothing and costs nothing.
//
// Events are spread over Partitions subjects by a key (the socket id), and
// each receiver has one durable consumer per partition that hands out one
// event at a time (MaxAckPending 1): a partition's events are delivered in
// order, one after the other, by whichever node fetched it, and a
// receiver's deliveries run Partitions at a time across the cluster.
// Every node must use the same WebhookConfig.
type WebhookConfig struct {
	// Receivers are stable keys (subject tokens, IsPlain), one per
	// receiver, each with durable consumers of its own. Consumers of keys
	// no longer listed are deleted at start, with their backlog.
	Receivers []string
	// Partitions is how many ordered queues each receiver has. Default
	// DefaultWebhookPartitions.
	Partitions int
	// MaxAge drops events older than this, delivered or not. Default 24h.
	MaxAge time.Duration
	// MaxBytes bounds the stream: past it the oldest events are dropped.
	// Default 1 GiB.
	MaxBytes int64
	// AckWait is how long a fetched event stays with the node that took it
	// before another node may: the delivery calls InProgress to keep it.
	// Default 30s.
	AckWait time.Duration
}

// Webhook stream defaults.
const (
	DefaultWebhookPartitions = 16
	DefaultWebhookMaxAge     = 24 * time.Hour
	DefaultWebhookMaxBytes   = 1 << 30
	defaultWebhookAckWait    = 30 * time.Second
	// MaxWebhookPartitions bounds WebhookConfig.Partitions.
	MaxWebhookPartitions = 256
)

// webhookStream is the stream's name.
const webhookStream = "SOCKBUS_WEBHOOKS"

func (c WebhookConfig) withDefaults() WebhookConfig {
	if c.Partitions <= 0 {
		c.Partitions = DefaultWebhookPartitions
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultWebhookMaxAge
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultWebhookMaxBytes
	}
	if c.AckWait <= 0 {
		c.AckWait = defaultWebhookAckWait
	}
	return c
}

// webhooks is the node's handle on the webhook stream; nil when off.
type webhooks struct {
	cfg    WebhookConfig
	stream *Stream
	sender Sender // one node-wide order: every event goes to one stream
	queues map[string]jetstream.Consumer
}

func webhookConsumer(receiver string, p int) string {
	return "SOCKBUS_WEBHOOK_" + receiver + "_" + strconv.Itoa(p)
}

// openWebhooks creates or adopts the webhook stream and its consumers.
func (b *Bus) openWebhooks(ctx context.Context) error {
	cfg := b.cfg.Webhooks
	if len(cfg.Receivers) == 0 {
		return nil
	}
	cfg = cfg.withDefaults()
	if cfg.Partitions > MaxWebhookPartitions {
		return fmt.Errorf("bus: webhook partitions must be 1..%d, got %d", MaxWebhookPartitions, cfg.Partitions)
	}
	for _, r := range cfg.Receivers {
		if !IsPlain(r) || len(r) > 64 {
			return fmt.Errorf("bus: webhook receiver key %q is not a plain token of at most 64 bytes", r)
		}
	}
	sc := jetstream.StreamConfig{
		Name:     webhookStream,
		Subjects: []string{webhookPrefix + ">"},
		Storage:  jetstream.FileStorage,
		// Interest: an event is removed once every receiver's consumer
		// acknowledged it, so a healthy receiver costs no disk.
		Retention:  jetstream.InterestPolicy,
		Discard:    jetstream.DiscardOld,
		MaxAge:     cfg.MaxAge,
		MaxMsgs:    -1,
		MaxBytes:   cfg.MaxBytes,
		MaxMsgSize: int32(b.cfg.MaxPayload + 64<<10),
		Duplicates: min(b.cfg.StoreTimeout+attemptTimeout, cfg.MaxAge),
		Replicas:   b.cfg.Replicas,
		Metadata:   map[string]string{epochKey: newEpoch()},
	}
	s, err := b.openStream(ctx, sc)
	if err != nil {
		return err
	}
	// The queues' pulls, renewals and acks go over the read connection,
	// like history reads: long polls and their answers stay off the node's
	// own connection (its publishes and live deliveries), and out of its
	// drain at shutdown.
	rjs, err := jetstream.New(b.rc)
	if err != nil {
		return fmt.Errorf("failed to open JetStream for the webhook queues: %w", err)
	}
	var rs jetstream.Stream
	err = Retry(ctx, func(ctx context.Context) (err error) {
		rs, err = rjs.Stream(ctx, webhookStream)
		return err
	})
	if err != nil {
		return fmt.Errorf("failed to open the webhook stream: %w", err)
	}
	w := &webhooks{cfg: cfg, stream: s, queues: map[string]jetstream.Consumer{}}
	for _, r := range cfg.Receivers {
		for p := range cfg.Partitions {
			name := webhookConsumer(r, p)
			cc := jetstream.ConsumerConfig{
				Durable:       name,
				FilterSubject: WebhookSubject(p),
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       cfg.AckWait,
				MaxAckPending: 1, // in order: the next event waits for this one
				MaxDeliver:    -1,
				DeliverPolicy: jetstream.DeliverAllPolicy,
			}
			var c jetstream.Consumer
			refused := 0
			err := Retry(ctx, func(ctx context.Context) (err error) {
				c, err = rs.CreateOrUpdateConsumer(ctx, cc)
				if err != nil && !transient(err) && refused < 10 {
					// Every node creates the same consumers at start: a
					// create racing another node's can be refused while
					// that one is being placed. A few more tries (50 ms
					// apart) find it placed; a real refusal stays one.
					refused++
					err = fmt.Errorf("%w: %w", errRetry, err)
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("failed to open webhook consumer %s: %w", name, err)
			}
			w.queues[name] = c
		}
	}
	if err := b.dropStaleWebhookConsumers(ctx, w); err != nil {
		return err
	}
	b.webhooks = w
	return nil
}

// dropStaleWebhookConsumers deletes the consumers of receivers (or
// partitions) no longer configured: under interest retention they would
// keep every event on disk until MaxAge.
func (b *Bus) dropStaleWebhookConsumers(ctx context.Context, w *webhooks) error {
	var stale []string
	err := Retry(ctx, func(ctx context.Context) error {
		stale = stale[:0]
		l := w.stream.JS.ConsumerNames(ctx)
		for n := range l.Name() {
			if _, ok := w.queues[n]; !ok && strings.HasPrefix(n, "SOCKBUS_WEBHOOK_") {
				stale = append(stale, n)
			}
		}
		return l.Err()
	})
	if err != nil {
		return fmt.Errorf("failed to list webhook consumers: %w", err)
	}
	for _, n := range stale {
		err := Retry(ctx, func(ctx context.Context) error {
			err := w.stream.JS.DeleteConsumer(ctx, n)
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				return nil // another node deleted it
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("failed to delete webhook consumer %s: %w", n, err)
		}
	}
	if len(stale) > 0 {
		b.log.Warn("deleted the webhook queues of receivers no longer configured, with their backlog", "count", len(stale), "example", stale[0])
	}
	return nil
}

// ErrWebhooksOff is returned by the webhook calls of a bus started without
// WebhookConfig.Receivers.
var ErrWebhooksOff = errors.New("bus: webhooks are not configured")

// WebhookPartitions is how many ordered queues each receiver has (0: off).
func (b *Bus) WebhookPartitions() int {
	if b.webhooks == nil {
		return 0
	}
	return b.webhooks.cfg.Partitions
}

// PublishWebhook stores body for every receiver, in the partition of key:
// events published with one key are delivered in publish order. It never
// blocks; fn (may be nil) runs as for PublishStored. The node's webhook
// events share one Sender: they go to one stream, so a stall of that
// stream holds them all back anyway.
func (b *Bus) PublishWebhook(key string, body []byte, fn func(error)) error {
	w := b.webhooks
	if w == nil {
		return ErrWebhooksOff
	}
	m := nats.Msg{Subject: WebhookSubject(shardOf(key, w.cfg.Partitions)), Data: body}
	return w.sender.publish(b.replies, m, "", ackCallback{fn: fn}, "") // never live
}

// WebhookBacklog is how many events and bytes the webhook stream holds:
// events some receiver has not taken yet (interest retention removes the
// others).
func (b *Bus) WebhookBacklog(ctx context.Context) (msgs, bytes uint64, err error) {
	w := b.webhooks
	if w == nil {
		return 0, 0, ErrWebhooksOff
	}
	info, err := w.stream.JS.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("failed to read the webhook stream: %w", err)
	}
	return info.State.Msgs, info.State.Bytes, nil
}

// WebhookQueue is one receiver's ordered queue of one partition, shared
// by every node: each event is handed to one of them at a time.
type WebhookQueue struct {
	c     jetstream.Consumer
	epoch string
}

// WebhookQueue returns receiver's queue of partition p.
func (b *Bus) WebhookQueue(receiver string, p int) (*WebhookQueue, error) {
	w := b.webhooks
	if w == nil {
		return nil, ErrWebhooksOff
	}
	c := w.queues[webhookConsumer(receiver, p)]
	if c == nil {
		return nil, fmt.Errorf("bus: no webhook queue %d for receiver %q", p, receiver)
	}
	return &WebhookQueue{c: c, epoch: w.stream.Epoch}, nil
}

// ErrNoWebhook is Next's answer when no event came within its wait.
var ErrNoWebhook = errors.New("bus: no webhook event waiting")

// ErrWebhookQueueMoving is Next's answer when the server that held the
// queue is stopping, the queue has no leader to answer, or its leader
// changed while the request waited (a peer's shutdown in a rolling
// restart): it moves to another node; ask again shortly.
var ErrWebhookQueueMoving = errors.New("bus: the webhook queue's server is stopping")

// Next waits for the queue's next event until ctx ends (give it a
// deadline: the pull request waits on the server as long). It returns
// ErrNoWebhook when none came.
func (q *WebhookQueue) Next(ctx context.Context) (*WebhookMsg, error) {
	m, err := q.c.Next(jetstream.FetchContext(ctx))
	if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return nil, ErrNoWebhook
	}
	if errors.Is(err, jetstream.ErrServerShutdown) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrConsumerLeadershipChanged) {
		return nil, fmt.Errorf("%w: %w", ErrWebhookQueueMoving, err)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to fetch a webhook event: %w", err)
	}
	meta, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		return nil, fmt.Errorf("failed to read a webhook event's metadata: %w", err)
	}
	return &WebhookMsg{
		ID:        q.epoch + "-" + strconv.FormatUint(meta.Sequence.Stream, 10),
		Data:      m.Data(),
		Stored:    meta.Timestamp,
		Delivered: meta.NumDelivered,
		m:         m,
	}, nil
}

// WebhookMsg is one event taken from a WebhookQueue. Until it is acked
// (or AckWait passes without InProgress) the queue hands out nothing else.
type WebhookMsg struct {
	// ID is stable across redeliveries and nodes: the stream's epoch and
	// the event's sequence.
	ID string
	// Data is what PublishWebhook stored.
	Data []byte
	// Stored is when the event was stored.
	Stored time.Time
	// Delivered counts the times the queue handed the event out, this one
	// included (more than one: a node took it and did not ack in time).
	Delivered uint64

	m jetstream.Msg
}

// Ack removes the event from the queue, waiting for the server's answer.
func (m *WebhookMsg) Ack(ctx context.Context) error { return m.m.DoubleAck(ctx) }

// InProgress keeps the event with this node for another AckWait.
func (m *WebhookMsg) InProgress() error { return m.m.InProgress() }

// Release hands the event back at once, for the next fetch of any node
// (this node is stopping).
func (m *WebhookMsg) Release() error { return m.m.Nak() }

// Drop gives the event up for good (too old to deliver).
func (m *WebhookMsg) Drop() error { return m.m.Term() }
