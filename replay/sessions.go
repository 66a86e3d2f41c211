package replay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockbus/sockbus/bus"
)

// SessionsBucket is the JetStream key-value bucket of recoverable sessions.
const SessionsBucket = "sockbus_sessions"

// Sessions stores Socket.IO recoverable-session records in a file-backed
// key-value bucket whose entries expire one recovery window after their
// last write, so they survive a crash of the node and are visible to every
// node of a cluster. It is safe for concurrent use.
type Sessions struct {
	kv jetstream.KeyValue
}

// OpenSessions opens (creating if needed) the sessions bucket with entries
// living window after their last write.
func OpenSessions(ctx context.Context, b *bus.Bus, window time.Duration) (*Sessions, error) {
	var kv jetstream.KeyValue
	err := bus.Retry(ctx, func(ctx context.Context) (err error) {
		kv, err = b.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:   SessionsBucket,
			TTL:      window,
			History:  1,
			Storage:  jetstream.FileStorage,
			Replicas: b.Replicas(),
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failed to open sessions bucket: %w", err)
	}
	return &Sessions{kv: kv}, nil
}

// Save writes a session record, restarting its expiry.
func (s *Sessions) Save(ctx context.Context, pid string, record []byte) error {
	if _, err := s.kv.Put(ctx, pid, record); err != nil {
		return fmt.Errorf("failed to save session: %w", err)
	}
	return nil
}

// Load returns a session record, or nil when there is none (never saved,
// expired or deleted).
func (s *Sessions) Load(ctx context.Context, pid string) ([]byte, error) {
	e, err := s.kv.Get(ctx, pid)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to load session: %w", err)
	}
	return e.Value(), nil
}

// Delete forgets a session (a deliberate disconnect is not recoverable).
func (s *Sessions) Delete(ctx context.Context, pid string) error {
	if err := s.kv.Purge(ctx, pid); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("failed to delete session: %w", err)
	}
	return nil
}
