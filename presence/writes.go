package presence

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockbus/sockbus/bus"
)

// writeWait bounds how long a join or leave is retried after it was
// queued: long enough to ride out the bucket's leader election (4-9 s
// measured for streams when the node that died led it).
const writeWait = 30 * time.Second

// writeAttempt bounds one attempt: a write lost to a leader that died is
// sent again instead of waiting out writeWait.
const writeAttempt = time.Second

// put writes a member key: a new key is announced as joined (unless
// o.silent), an existing one (the socket recovered, here or on another
// node) silently taken over. Attempts are retried while the bucket has no
// leader; an attempt that timed out may have been stored all the same,
// and a key found holding this node's own write then was a fresh join.
func (r *Registry) put(ctx context.Context, o op) {
	key, e := o.key, o.e
	val := value{Node: r.node, User: e.user}.encode()
	r.mu.Lock()
	_, held := r.mine[key]
	r.mu.Unlock()
	attempts := 0
	var rev uint64
	var err error = jetstream.ErrKeyExists // held: stored here, a socket back after a drop
	if !held || o.resync {
		err = bus.RetryEach(ctx, writeAttempt, func(ctx context.Context) (err error) {
			attempts++
			rev, err = r.bucket().Create(ctx, key, val)
			return err
		})
	}
	fresh := err == nil
	if errors.Is(err, jetstream.ErrKeyExists) {
		// RetryEach retries only passing failures: after one, the key may
		// hold what that attempt stored.
		var cur jetstream.KeyValueEntry
		if attempts > 1 && !held {
			cur, _ = r.bucket().Get(ctx, key)
		}
		if cur != nil && string(cur.Value()) == string(val) {
			rev, err, fresh = cur.Revision(), nil, true // an earlier attempt of ours
		} else {
			err = bus.RetryEach(ctx, writeAttempt, func(ctx context.Context) (err error) {
				rev, err = r.bucket().Put(ctx, key, val)
				return err
			})
		}
	}
	if err != nil {
		r.warn.Warn("failed to store presence", "key", key, "err", err)
		return
	}
	e.rev = rev
	r.mu.Lock()
	r.mine[key] = &e
	r.mu.Unlock()
	if fresh && !o.silent {
		r.announce(e, "joined")
	}
}

// remove purges this node's member key if it still holds e.rev (nobody
// took it over), leaving no marker behind after the TTL, and announces it.
// A revision mismatch on a key now gone means an earlier attempt of this
// very purge was applied though its reply was lost: announced all the same.
func (r *Registry) remove(ctx context.Context, key string, e entry) {
	err := bus.RetryEach(ctx, writeAttempt, func(ctx context.Context) error {
		return r.bucket().Purge(ctx, key, jetstream.LastRevision(e.rev), jetstream.PurgeTTL(r.cfg.TTL))
	})
	if mismatch(err) {
		err = bus.RetryEach(ctx, writeAttempt, func(ctx context.Context) error {
			_, err := r.bucket().Get(ctx, key)
			return err
		})
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			err = nil // gone: our earlier attempt
		} else if err == nil {
			return // taken over (the socket recovered on another node)
		}
	}
	if err != nil {
		r.warn.Warn("failed to remove presence", "key", key, "err", err)
		return
	}
	r.announce(e, "left")
}

// mismatch reports a conditional write refused because the key moved on:
// JetStream's "wrong last sequence", 10071, or 10164 from replicated
// streams.
func mismatch(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
