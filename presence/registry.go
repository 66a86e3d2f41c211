package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/metrics"
)

// Defaults of Config.
const (
	DefaultTTL      = 10 * time.Second
	DefaultMaxBytes = 64 << 20
	DefaultMaxList  = 1000
)

// Config configures a Registry; its zero value works.
type Config struct {
	// TTL bounds how long the members of a node that died stay present
	// (and, after a drop a client may recover from, how long its socket
	// stays present). Default DefaultTTL.
	TTL time.Duration
	// MaxBytes bounds the bucket (in memory, on every replica). Default
	// DefaultMaxBytes.
	MaxBytes int64
	// MaxList bounds the members an answer lists (its count is the true
	// one). Default DefaultMaxList.
	MaxList int
	// Events publishes a joined or left event on PresenceEventSubject for
	// every change.
	Events bool
	// Logger receives failures, rate-limited. Default slog.Default().
	Logger *slog.Logger
	// Metrics counts queries and events. Nil: nothing counted.
	Metrics *metrics.Set
	// Node names this node's heartbeat and members. Default the bus's
	// NodeID (random per process, so a restarted node is a new one).
	Node string
}

func (c Config) withDefaults() Config {
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxList <= 0 {
		c.MaxList = DefaultMaxList
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// attempt bounds one write of the bucket.
const attempt = 5 * time.Second

// Registry is this node's side of presence: it writes its members' keys,
// refreshes its heartbeat and removes the members of nodes that died. It
// is safe for concurrent use; Join and Leave never block on the bus.
type Registry struct {
	b    *bus.Bus
	kv   jetstream.KeyValue
	cfg  Config
	node string
	warn *ratelog.Logger

	mu      sync.Mutex
	live    map[string]bool   // nodes whose heartbeat key exists
	mine    map[string]*entry // this node's members by key
	ops     []op
	delayed []op // leaves waiting for a recovery (due set)
	wake    chan struct{}
	nodeRev uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	query  *bus.Subscription
	// answering holds a slot per backend query being read (maxAnswering).
	answering chan struct{}
}

type entry struct {
	where Where
	id    string
	user  string
	rev   uint64
}

type op struct {
	key  string
	e    entry
	join bool
	rev  uint64    // a delayed leave: the revision it may remove
	due  time.Time // a delayed leave: when
}

// Open opens (creating if needed) the presence bucket and starts this
// node's heartbeat, its watch of the other nodes and the answer to
// PresenceQuerySubject.
func Open(ctx context.Context, b *bus.Bus, cfg Config) (*Registry, error) {
	cfg = cfg.withDefaults()
	var kv jetstream.KeyValue
	err := bus.Retry(ctx, func(ctx context.Context) (err error) {
		kv, err = b.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:         Bucket,
			History:        1,
			Storage:        jetstream.MemoryStorage,
			Replicas:       b.Replicas(),
			MaxBytes:       cfg.MaxBytes,
			LimitMarkerTTL: cfg.TTL,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failed to open presence bucket: %w", err)
	}
	if cfg.Node == "" {
		cfg.Node = b.NodeID()
	}
	node, err := keyToken(cfg.Node)
	if err != nil {
		return nil, fmt.Errorf("failed to name node: %w", err)
	}
	r := &Registry{
		b: b, kv: kv, cfg: cfg, node: node, warn: ratelog.New(cfg.Logger, time.Minute),
		live: map[string]bool{}, mine: map[string]*entry{}, wake: make(chan struct{}, 1),
		answering: make(chan struct{}, maxAnswering),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if err := r.heartbeat(ctx); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	if err := r.watchNodes(ready); err != nil {
		return nil, err
	}
	select {
	case <-ready:
	case <-ctx.Done():
		r.cancel()
		return nil, fmt.Errorf("failed to read presence nodes: %w", ctx.Err())
	}
	r.query, err = b.SubscribeQueue(bus.PresenceQueries, "sockbus-presence", r.answer)
	if err != nil {
		r.cancel()
		return nil, fmt.Errorf("failed to subscribe presence queries: %w", err)
	}
	r.wg.Add(2)
	go r.work()
	go r.tick()
	r.sweepAsync("") // members of nodes gone while nobody watched
	return r, nil
}

// TTL is Config.TTL.
func (r *Registry) TTL() time.Duration { return r.cfg.TTL }

// Events reports whether joins and leaves are announced.
func (r *Registry) Events() bool { return r.cfg.Events }

// Join makes socket id (of user, "" for none) a member of where.
func (r *Registry) Join(w Where, id, user string) {
	r.enqueue(w, id, user, true, false)
}

// Leave ends socket id's membership of where. With later, the socket may
// come back (a drop it may recover from): it stays a member for up to
// the TTL, and a Join of the same id meanwhile (on any node) keeps it
// present without any event.
func (r *Registry) Leave(w Where, id, user string, later bool) {
	r.enqueue(w, id, user, false, later)
}

func (r *Registry) enqueue(w Where, id, user string, join, later bool) {
	prefix, err := w.prefix()
	if err != nil {
		return // a name no room or channel can have
	}
	o := op{key: prefix + id, e: entry{where: w, id: id, user: user}, join: join}
	r.mu.Lock()
	if later {
		o.due = time.Now().Add(r.cfg.TTL)
	}
	r.ops = append(r.ops, o)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// work applies queued joins and leaves in order.
func (r *Registry) work() {
	defer r.wg.Done()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.wake:
		}
		for {
			r.mu.Lock()
			ops := r.ops
			r.ops = nil
			r.mu.Unlock()
			if len(ops) == 0 {
				break
			}
			for _, o := range ops {
				r.apply(r.ctx, o)
			}
		}
	}
}

func (r *Registry) apply(ctx context.Context, o op) {
	ctx, cancel := context.WithTimeout(ctx, attempt)
	defer cancel()
	if o.join {
		r.put(ctx, o.key, o.e)
		return
	}
	r.mu.Lock()
	cur := r.mine[o.key]
	if cur == nil {
		r.mu.Unlock()
		return
	}
	if !o.due.IsZero() && o.rev == 0 { // delayed: remember what it may remove
		o.rev = cur.rev
		r.delayed = append(r.delayed, o)
		r.mu.Unlock()
		return
	}
	if o.rev != 0 && cur.rev != o.rev { // joined again since the drop
		r.mu.Unlock()
		return
	}
	delete(r.mine, o.key)
	rev := cur.rev
	r.mu.Unlock()
	r.remove(ctx, o.key, rev, *cur)
}

// put writes a member key: a new key is announced as joined, an existing
// one (the socket recovered, here or on another node) silently taken over.
func (r *Registry) put(ctx context.Context, key string, e entry) {
	val := value{Node: r.node, User: e.user}.encode()
	rev, err := r.kv.Create(ctx, key, val)
	fresh := err == nil
	if errors.Is(err, jetstream.ErrKeyExists) {
		rev, err = r.kv.Put(ctx, key, val)
	}
	if err != nil {
		r.warn.Warn("failed to store presence", "key", key, "err", err)
		return
	}
	e.rev = rev
	r.mu.Lock()
	r.mine[key] = &e
	r.mu.Unlock()
	if fresh {
		r.announce(e, "joined")
	}
}

// remove purges a member key if it still holds revision rev (nobody took
// it over), leaving no marker behind after the TTL, and announces it.
func (r *Registry) remove(ctx context.Context, key string, rev uint64, e entry) {
	// Retried while the bucket elects a leader (its old one may be the node
	// that died); a revision mismatch is final.
	err := bus.RetryEach(ctx, time.Second, func(ctx context.Context) error {
		return r.kv.Purge(ctx, key, jetstream.LastRevision(rev), jetstream.PurgeTTL(r.cfg.TTL))
	})
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			r.warn.Warn("failed to remove presence", "key", key, "err", err)
		}
		return
	}
	r.announce(e, "left")
}

// announce publishes a joined or left event when events are on.
func (r *Registry) announce(e entry, what string) {
	if !r.cfg.Events {
		return
	}
	tok, err := bus.EncodeToken(e.where.scopeName())
	if err != nil {
		return
	}
	ev := Event{ID: e.id, User: userPtr(e.user)}
	if e.where.Kind == KindIO && !e.where.Whole {
		room := e.where.Room
		ev.Room = &room
	}
	body, _ := json.Marshal(ev)
	if err := r.b.PublishLive(&bus.Msg{Subject: bus.PresenceEventSubject(e.where.Kind, tok, what), Data: body}); err != nil {
		r.warn.Warn("failed to announce presence", "err", err)
		return
	}
	if r.cfg.Metrics != nil {
		r.cfg.Metrics.PresenceEvent()
	}
}

// Close stops the node's presence: queued changes are applied (until ctx
// ends), then its heartbeat key is removed, so the other nodes remove
// whatever members it still held at once.
func (r *Registry) Close(ctx context.Context) error {
	// Nothing is written on the way out: a shutdown's sockets may recover
	// elsewhere (present up to the TTL, as after any drop), and this node's
	// members go when its heartbeat expires, swept by the others as after a
	// crash. Writing them here cost the shutdown its budget whenever the
	// bucket could not answer (the last nodes of a cluster, without quorum):
	// the bus drain that follows then ran out of time.
	if r.query != nil {
		_ = r.query.Unsubscribe()
	}
	r.cancel()
	r.wg.Wait()
	return nil
}
