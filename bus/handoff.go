package bus

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// HandOff steps this node down from leading any stream of the account (the
// layout's streams and the session bucket's), so a node about to stop
// leaves no stream without a leader: a new one is elected in tens of
// milliseconds instead of 4-9 s of election timeout after it is gone. It
// returns once this node leads none of them, or ctx ends.
// The meta leadership is handed off by the server's own shutdown; writes
// do not need it. Nothing to do for a single node, for an edge on an
// external NATS (it leads nothing), or while other nodes are stopping too
// (a whole cluster stopped at once: they would hand leaderships around).
func (b *Bus) HandOff(ctx context.Context) (int, error) {
	if b.ns == nil || !b.ns.JetStreamIsClustered() {
		return 0, nil
	}
	if b.departures != nil && b.departures.stoppingPeers() > 0 {
		return 0, nil // the cluster is stopping: no peer to hand off to stays
	}
	var names []string
	err := RetryEach(ctx, time.Second, func(ctx context.Context) error {
		names = names[:0]
		l := b.js.StreamNames(ctx)
		for n := range l.Name() {
			names = append(names, n)
		}
		return l.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("failed to list streams to hand off: %w", err)
	}
	acc := b.ns.GlobalAccount().Name
	var led []string
	for _, n := range names {
		if b.ns.JetStreamIsStreamLeader(acc, n) {
			if err := b.ns.JetStreamStepdownStream(acc, n); err != nil {
				b.log.Warn("stream step-down failed", "stream", n, "err", err)
				continue
			}
			led = append(led, n)
		}
	}
	// Wait until this node leads none of them, asking again now and then:
	// a step-down finds no successor while every peer lags (one just
	// restarted, say).
	var errs []error
	for _, n := range led {
		asked := time.Now()
		for b.ns.JetStreamIsStreamLeader(acc, n) {
			if ctx.Err() != nil {
				errs = append(errs, fmt.Errorf("stream %s: %w", n, ctx.Err()))
				break
			}
			if time.Since(asked) > 250*time.Millisecond {
				_ = b.ns.JetStreamStepdownStream(acc, n)
				asked = time.Now()
			}
			select { // polling the local Raft state
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return len(led), fmt.Errorf("failed to hand off stream leaders: %w", err)
	}
	return len(led), nil
}
