package presence

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockbus/sockbus/bus"
)

// sweepEvery is how often a node looks for dead nodes: eight times per
// TTL, so a death shows at most an eighth of a TTL after the TTL.
func (r *Registry) sweepEvery() time.Duration { return max(r.cfg.TTL/8, 5*time.Millisecond) }

// sweeper announces the members of dead nodes as left when this node is
// the sweeper (sweeperLocked), at once: a live publish, while the bucket
// may be electing a leader (the dead node having led it). Each member is
// announced once by this sweeper; a sweeper taking over from one that
// died announces what it finds left, so a member may be announced twice,
// never not at all. The purges run apart (purger), so a bucket that cannot
// take writes delays no announcement.
func (r *Registry) sweeper() {
	defer r.wg.Done()
	t := time.NewTicker(r.sweepEvery())
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		if r.sweep() {
			select {
			case r.purgeWake <- struct{}{}:
			default:
			}
		}
	}
}

// sweep announces the dead nodes' members not announced yet, and reports
// whether any purge is owed.
func (r *Registry) sweep() bool {
	now := time.Now()
	r.mu.Lock()
	for node, last := range r.seen { // forget the dead with nothing left
		if len(r.byNode[node]) == 0 && now.Sub(last) > 2*r.cfg.TTL && !r.aliveLocked(node, now) {
			delete(r.seen, node)
			delete(r.buried, node)
		}
	}
	if !r.sweeperLocked(now) {
		r.mu.Unlock()
		return false
	}
	var announce []member
	owed := false
	for node, keys := range r.byNode {
		if r.aliveLocked(node, now) {
			continue
		}
		owed = owed || !r.buried[node]
		for key, m := range keys {
			s := r.swept[key]
			if s == nil || s.rev != m.rev {
				s = &sweptKey{rev: m.rev}
				r.swept[key] = s
				announce = append(announce, *m)
			}
			owed = owed || !s.purged
		}
	}
	r.mu.Unlock()
	for _, m := range announce {
		r.announce(m.entry(), "left")
	}
	return owed
}

// purger removes what the sweeper announced: each key only if it still
// holds the revision announced, retried until the bucket takes it. A
// revision mismatch means the key is gone (an earlier attempt whose reply
// was lost) or was taken over (see Registry.see): done either way. It
// also removes a dead node's heartbeat key, so that a node only taken for
// dead stores its members again.
func (r *Registry) purger() {
	defer r.wg.Done()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.purgeWake:
		}
		bury, keys := r.owed()
		ctx, cancel := context.WithTimeout(r.ctx, r.cfg.TTL)
		err := r.purge(ctx, bury, keys)
		cancel()
		if err != nil && r.ctx.Err() == nil {
			r.warn.Warn("failed to remove a dead node's presence, retrying", "err", err)
		}
	}
}

func (r *Registry) owed() (bury []string, keys []member) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for node := range r.byNode {
		if !r.buried[node] && !r.aliveLocked(node, now) {
			bury = append(bury, node)
		}
	}
	for key, s := range r.swept {
		if m := r.lookup(key); !s.purged && m != nil && m.rev == s.rev {
			keys = append(keys, *m)
		}
	}
	return bury, keys
}

func (r *Registry) purge(ctx context.Context, bury []string, keys []member) error {
	for _, node := range bury {
		if err := bus.RetryEach(ctx, writeAttempt, func(ctx context.Context) error {
			return r.bucket().Purge(ctx, nodeKey(node), jetstream.PurgeTTL(r.cfg.TTL))
		}); err != nil {
			return err
		}
		r.mu.Lock()
		r.buried[node] = true
		r.mu.Unlock()
	}
	for _, m := range keys {
		err := bus.RetryEach(ctx, writeAttempt, func(ctx context.Context) error {
			return r.bucket().Purge(ctx, m.key, jetstream.LastRevision(m.rev), jetstream.PurgeTTL(r.cfg.TTL))
		})
		if err != nil && !mismatch(err) {
			return err
		}
		r.mu.Lock()
		if s := r.swept[m.key]; s != nil && s.rev == m.rev {
			s.purged = true
		}
		r.mu.Unlock()
	}
	return nil
}
