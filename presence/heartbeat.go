package presence

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// heartbeat writes this node's heartbeat key with a TTL: created the first
// time (or after it expired), then rewritten only over the revision it
// wrote, so a node whose key expired (the others took it for dead and
// removed its members) notices and stores its members again.
func (r *Registry) heartbeat(ctx context.Context) error {
	key := nodeKey(r.node)
	r.mu.Lock()
	rev := r.nodeRev
	r.mu.Unlock()
	if rev != 0 {
		ack, err := r.b.JetStream().Publish(ctx, "$KV."+Bucket+"."+key, nil,
			jetstream.WithMsgTTL(r.cfg.TTL), jetstream.WithExpectLastSequencePerSubject(rev))
		if err == nil {
			r.mu.Lock()
			r.nodeRev = ack.Sequence
			r.mu.Unlock()
			return nil
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
			return err
		}
		r.warn.Warn("presence heartbeat expired: storing this node's members again", "node", r.node)
		r.resync()
	}
	rev, err := r.kv.Create(ctx, key, nil, jetstream.KeyTTL(r.cfg.TTL))
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.nodeRev = rev
	r.mu.Unlock()
	return nil
}

// resync queues this node's members to be stored again.
func (r *Registry) resync() {
	r.mu.Lock()
	for key, e := range r.mine {
		r.ops = append(r.ops, op{key: key, e: *e, join: true})
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
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
		ctx, cancel := context.WithTimeout(r.ctx, r.cfg.TTL/3)
		if err := r.heartbeat(ctx); err != nil && r.ctx.Err() == nil {
			r.warn.Warn("failed to refresh presence heartbeat", "err", err)
		}
		cancel()
		r.mu.Lock()
		now := time.Now()
		var due []op
		keep := r.delayed[:0]
		for _, o := range r.delayed {
			if now.Before(o.due) {
				keep = append(keep, o)
			} else {
				due = append(due, o)
			}
		}
		r.delayed = keep
		r.ops = append(r.ops, due...)
		r.mu.Unlock()
		if len(due) > 0 {
			select {
			case r.wake <- struct{}{}:
			default:
			}
		}
	}
}

// watchNodes follows the heartbeat keys; ready closes once the nodes alive
// now are known. A node whose key goes away is swept.
func (r *Registry) watchNodes(ready chan struct{}) error {
	w, err := r.kv.Watch(r.ctx, nodeKey("*"))
	if err != nil {
		return err
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() { _ = w.Stop() }()
		initial := true
		for {
			select {
			case <-r.ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					if initial {
						initial = false
						close(ready)
					}
					continue
				}
				node := strings.TrimPrefix(e.Key(), "n.")
				r.mu.Lock()
				if e.Operation() == jetstream.KeyValuePut {
					r.live[node] = true
					r.mu.Unlock()
					continue
				}
				delete(r.live, node)
				r.mu.Unlock()
				if !initial && node != r.node {
					r.sweepAsync(node)
				}
			}
		}
	}()
	return nil
}

func (r *Registry) alive(node string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live[node]
}

// sweepAsync removes, on a goroutine of its own, the members of node (""
// : of every node without a heartbeat) and announces them as left. Every
// node sweeps; the conditional purge lets exactly one remove each key.
func (r *Registry) sweepAsync(node string) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(r.ctx, sweepWait)
		defer cancel()
		err := r.scan(ctx, []string{"io.>", "ws.>"}, func(e jetstream.KeyValueEntry, v value) {
			if (node != "" && v.Node != node) || (node == "" && (v.Node == r.node || r.alive(v.Node))) {
				return
			}
			w, id, ok := parseKey(e.Key())
			if !ok {
				return
			}
			r.remove(ctx, e.Key(), e.Revision(), entry{where: w, id: id, user: v.User})
		})
		if err != nil && r.ctx.Err() == nil {
			r.warn.Warn("failed to sweep presence", "err", err)
		}
	}()
}

// sweepWait bounds a sweep: long enough for the bucket to elect a new
// leader when the node that died led it (4-9 s measured for streams).
const sweepWait = 30 * time.Second

// scan calls fn for every current member key matching filters.
func (r *Registry) scan(ctx context.Context, filters []string, fn func(jetstream.KeyValueEntry, value)) error {
	w, err := r.kv.WatchFiltered(ctx, filters, jetstream.IgnoreDeletes())
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	var batch []jetstream.KeyValueEntry
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("presence watch ended")
			}
			if e == nil {
				for _, e := range batch {
					var v value
					if json.Unmarshal(e.Value(), &v) == nil {
						fn(e, v)
					}
				}
				return nil
			}
			batch = append(batch, e)
		}
	}
}
