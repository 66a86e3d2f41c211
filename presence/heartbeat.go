package presence

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// heartbeat writes this node's heartbeat key with a TTL: created the first
// time (or after it expired), then rewritten only over the revision it
// wrote. Refused, the key was removed (the sweeper took this node for dead
// and removed its members) or expired, or the bucket was made again: this
// node then stores its members again.
func (r *Registry) heartbeat(ctx context.Context) error {
	key := nodeKey(r.node)
	r.mu.Lock()
	rev, kv := r.nodeRev, r.kv
	r.mu.Unlock()
	if rev != 0 {
		ack, err := r.b.JetStream().Publish(ctx, "$KV."+Bucket+"."+key, nil,
			jetstream.WithMsgTTL(r.cfg.TTL), jetstream.WithExpectLastSequencePerSubject(rev))
		if err == nil {
			r.mu.Lock()
			r.nodeRev, r.echo = ack.Sequence, ack.Sequence
			r.mu.Unlock()
			return nil
		}
		if !mismatch(err) {
			return err
		}
		if err := r.checkBucket(ctx, false); err != nil {
			return err
		}
		r.mu.Lock()
		rev, kv = r.nodeRev, r.kv
		r.mu.Unlock()
		if rev != 0 { // the same bucket: this node was taken for dead
			r.warn.Warn("presence heartbeat removed or expired: storing this node's members again", "node", r.node)
			r.resync(false)
		}
	}
	rev, err := kv.Create(ctx, key, nil, jetstream.KeyTTL(r.cfg.TTL))
	if mismatch(err) { // a write of ours whose reply was lost
		var ack *jetstream.PubAck
		if ack, err = r.b.JetStream().Publish(ctx, "$KV."+Bucket+"."+key, nil, jetstream.WithMsgTTL(r.cfg.TTL)); err == nil {
			rev = ack.Sequence
		}
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.nodeRev = rev
	r.mu.Unlock()
	return nil
}

// resync queues this node's members to be stored again; silent when
// nobody announced them as left (the bucket was made again).
func (r *Registry) resync(silent bool) {
	now := time.Now()
	r.mu.Lock()
	for key, e := range r.mine {
		r.ops = append(r.ops, op{key: key, e: *e, join: true, resync: true, silent: silent, at: now})
	}
	r.mu.Unlock()
	r.poke()
}

// tick refreshes the heartbeat three times per TTL and ends the delayed
// leaves that are due: one batch per node, no timer per socket.
func (r *Registry) tick() {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.TTL / 3)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		if r.stuck() {
			r.warn.Warn("presence watch behind the bucket: following it again")
			r.restartWatch()
		}
		ctx, cancel := context.WithTimeout(r.ctx, r.cfg.TTL/3)
		err := r.heartbeat(ctx)
		cancel()
		if err != nil && r.ctx.Err() == nil {
			r.warn.Warn("failed to refresh presence heartbeat", "err", err)
			// Perhaps the bucket is gone (an external NATS restarted).
			ctx, cancel := context.WithTimeout(r.ctx, r.cfg.TTL)
			if err := r.checkBucket(ctx, false); err != nil && r.ctx.Err() == nil {
				r.warn.Warn("failed to check presence bucket", "err", err)
			}
			cancel()
		}
		r.mu.Lock()
		now := time.Now()
		var due []op
		keep := r.delayed[:0]
		for _, o := range r.delayed {
			if now.Before(o.due) {
				keep = append(keep, o)
			} else {
				o.at = now // its writes' time starts now
				due = append(due, o)
			}
		}
		r.delayed = keep
		r.ops = append(r.ops, due...)
		r.mu.Unlock()
		if len(due) > 0 {
			r.poke()
		}
	}
}
