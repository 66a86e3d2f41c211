package bus

import (
	"context"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Kind says what a stream holds.
type Kind string

const (
	// KindChannel is a plain WebSocket channel: subject sockbus.ws.<channel>.
	KindChannel Kind = "ws"
	// KindNamespace is a Socket.IO namespace: subjects sockbus.io.<ns>.>.
	KindNamespace Kind = "io"
)

// epochKey is the stream metadata key holding the epoch chosen at creation.
const epochKey = "sockbus_epoch"

// Stream is the JetStream log of one channel or namespace.
type Stream struct {
	// Name is the JetStream stream name.
	Name string
	// Filter is the subject pattern the stream stores.
	Filter string
	// Epoch changes whenever the stream is recreated, so a stored sequence
	// from another epoch is known not to refer to this log.
	Epoch string
	// JS is the stream handle, for reads.
	JS jetstream.Stream
}

// StreamName returns the stream name for a channel or namespace token.
// Long tokens are hashed to stay under JetStream's name limits.
func StreamName(kind Kind, tok string) string {
	prefix := "SOCKBUS_WS_"
	if kind == KindNamespace {
		prefix = "SOCKBUS_IO_"
	}
	if len(tok) > 200 {
		sum := sha256.Sum256([]byte(tok))
		return prefix + "H" + hex.EncodeToString(sum[:16])
	}
	return prefix + tok
}

func filterFor(kind Kind, tok string) string {
	if kind == KindNamespace {
		return "sockbus.io." + tok + ".>"
	}
	return ChannelSubject(tok)
}

// EnsureStream returns the stream for a channel or namespace token, creating
// it on first use (any node may; creation is idempotent across a cluster).
func (b *Bus) EnsureStream(ctx context.Context, kind Kind, tok string) (*Stream, error) {
	name := StreamName(kind, tok)
	if s, ok := b.streams.Load(name); ok {
		return s.(*Stream), nil
	}
	filter := filterFor(kind, tok)
	h := b.cfg.History
	cfg := jetstream.StreamConfig{
		Name:        name,
		Subjects:    []string{filter},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      h.MaxAge,
		MaxMsgs:     h.MaxMsgs,
		MaxBytes:    h.MaxBytes,
		AllowDirect: true,
		Replicas:    b.cfg.Replicas,
		RePublish:   &jetstream.RePublish{Source: filter, Destination: Live(filter)},
		Metadata:    map[string]string{epochKey: newEpoch()},
	}
	var js jetstream.Stream
	err := Retry(ctx, func(ctx context.Context) (err error) {
		js, err = b.js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			js, err = b.adoptStream(ctx, cfg)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create stream %s: %w", name, err)
	}
	info := js.CachedInfo()
	epoch := info.Config.Metadata[epochKey]
	if epoch == "" {
		epoch = strconv.FormatInt(info.Created.UnixMilli(), 36)
	}
	s := &Stream{Name: name, Filter: filter, Epoch: epoch, JS: js}
	actual, _ := b.streams.LoadOrStore(name, s)
	return actual.(*Stream), nil
}

// adoptStream opens an existing stream and brings its limits up to date,
// keeping its epoch.
func (b *Bus) adoptStream(ctx context.Context, want jetstream.StreamConfig) (jetstream.Stream, error) {
	js, err := b.js.Stream(ctx, want.Name)
	if err != nil {
		return nil, err
	}
	have := js.CachedInfo().Config
	if have.MaxAge == want.MaxAge && have.MaxMsgs == want.MaxMsgs && have.MaxBytes == want.MaxBytes {
		return js, nil
	}
	have.MaxAge, have.MaxMsgs, have.MaxBytes = want.MaxAge, want.MaxMsgs, want.MaxBytes
	return b.js.UpdateStream(ctx, have)
}

// Forget drops the cached handle of a stream, e.g. after it was deleted.
func (b *Bus) Forget(name string) { b.streams.Delete(name) }

func newEpoch() string {
	var p [6]byte
	_, _ = cryptorand.Read(p[:])
	return hex.EncodeToString(p[:])
}

// Publish stores msg in its stream without waiting: the returned future
// resolves when JetStream acknowledged it. Order is kept per node.
func (b *Bus) Publish(msg *nats.Msg) (jetstream.PubAckFuture, error) {
	f, err := b.js.PublishMsgAsync(msg)
	if err != nil {
		return nil, fmt.Errorf("failed to publish on %s: %w", msg.Subject, err)
	}
	return f, nil
}

// PublishLive sends msg to live subscribers only (nothing is stored).
func (b *Bus) PublishLive(msg *nats.Msg) error {
	if err := b.nc.PublishMsg(msg); err != nil {
		return fmt.Errorf("failed to publish on %s: %w", msg.Subject, err)
	}
	return nil
}

// SubscribeSync subscribes for NextMsg; like Subscribe, the server has
// registered the subscription when it returns.
func (b *Bus) SubscribeSync(subject string) (*nats.Subscription, error) {
	sub, err := b.nc.SubscribeSync(subject)
	return b.registered(subject, sub, err)
}

// Subscribe delivers every message on subject to h, one at a time, in order,
// on a goroutine owned by the connection. h must not block. When it returns,
// the server has registered the subscription.
func (b *Bus) Subscribe(subject string, h nats.MsgHandler) (*nats.Subscription, error) {
	sub, err := b.nc.Subscribe(subject, h)
	return b.registered(subject, sub, err)
}

// registered completes a new subscription with a round trip, so the server
// has the interest before we tell a client it is connected (a publish right
// after must reach it), and wraps a failure once.
func (b *Bus) registered(subject string, sub *nats.Subscription, err error) (*nats.Subscription, error) {
	if err == nil {
		if err = b.nc.Flush(); err != nil {
			_ = sub.Unsubscribe()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("failed to subscribe to %s: %w", subject, err)
	}
	return sub, nil
}

// StoredMsg is one message read back from a stream.
type StoredMsg struct {
	Seq     uint64
	Subject string
	Header  nats.Header
	Data    []byte
}
