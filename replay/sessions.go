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
	// ajs pipelines SaveMany's writes: a JetStream context of the node's
	// connection of its own, so that its pending writes, their timeouts and
	// their errors are apart from the bus's stored publishes.
	ajs jetstream.JetStream
}

// sessionSubjects is the bucket's put subject prefix (a local bucket: no
// mirror, no domain), what KeyValue.Put publishes to.
const sessionSubjects = "$KV." + SessionsBucket + "."

// saveWindow bounds SaveMany's writes in flight.
const saveWindow = 256

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
	ajs, err := jetstream.New(b.JetStream().Conn(), jetstream.WithPublishAsyncMaxPending(saveWindow),
		jetstream.WithPublishAsyncTimeout(sessionAttempt))
	if err != nil {
		return nil, fmt.Errorf("failed to open sessions bucket: %w", err)
	}
	return &Sessions{kv: kv, ajs: ajs}, nil
}

// sessionAttempt bounds one read or write of the bucket. Reads are direct
// gets any replica answers; a write needs the bucket's leader, and while it
// is being elected (4-9 s after a crash) writes are refused or lost: each
// is retried, with short attempts, until the caller's ctx ends.
const sessionAttempt = time.Second

// Save writes a session record, restarting its expiry.
func (s *Sessions) Save(ctx context.Context, pid string, record []byte) error {
	err := bus.RetryEach(ctx, sessionAttempt, func(ctx context.Context) error {
		_, err := s.kv.Put(ctx, pid, record)
		return err
	})
	if err != nil {
		return fmt.Errorf("failed to save session: %w", err)
	}
	return nil
}

// SaveMany is Save for many records, pipelined: up to saveWindow writes are
// sent before the first acknowledgement is awaited, instead of one round
// trip (and one waiting goroutine's wake-up, and two contexts) per record.
// errs[i] is the outcome of pids[i]: nil once the bucket acknowledged the
// record, as Save. A write refused or unanswered within one attempt is
// redone with Save (retried until ctx ends), so a leader election costs
// what it costs Save. Writes of one pid must not repeat within a call.
func (s *Sessions) SaveMany(ctx context.Context, pids []string, records [][]byte) []error {
	errs := make([]error, len(pids))
	futs := make([]jetstream.PubAckFuture, 0, min(len(pids), saveWindow))
	for lo := 0; lo < len(pids); lo += saveWindow {
		hi := min(lo+saveWindow, len(pids))
		futs = futs[:0]
		for i := lo; i < hi; i++ {
			f, err := s.ajs.PublishAsync(sessionSubjects+pids[i], records[i])
			if err != nil {
				f = nil
			}
			futs = append(futs, f)
		}
		for j, f := range futs {
			i := lo + j
			if f != nil {
				select {
				case <-f.Ok():
					continue
				case <-f.Err():
				case <-ctx.Done():
				}
			}
			errs[i] = s.Save(ctx, pids[i], records[i])
		}
	}
	return errs
}

// Load returns a session record, or nil when there is none (never saved,
// expired or deleted).
func (s *Sessions) Load(ctx context.Context, pid string) ([]byte, error) {
	var e jetstream.KeyValueEntry
	err := bus.RetryEach(ctx, sessionAttempt, func(ctx context.Context) (err error) {
		e, err = s.kv.Get(ctx, pid)
		return err
	})
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
	err := bus.RetryEach(ctx, sessionAttempt, func(ctx context.Context) error {
		return s.kv.Purge(ctx, pid)
	})
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("failed to delete session: %w", err)
	}
	return nil
}
