package presence

import (
	"context"
	"encoding/json"
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

// Registry is this node's side of presence: it writes its members' keys,
// follows the whole bucket, beats, and (when it is the sweeper) removes
// the members of nodes that died. It is safe for concurrent use; Join and
// Leave never block on the bus.
type Registry struct {
	b    *bus.Bus
	cfg  Config
	node string
	warn *ratelog.Logger
	// ownValue starts every value this node writes (see Registry.see).
	ownValue []byte

	mu sync.Mutex
	kv jetstream.KeyValue // replaced when the bucket is created again
	nodes
	view
	mine map[string]*entry // this node's members by key, as stored
	// local is this node's members as its sockets stand, stored or not
	// yet: answers take this node's own members from it, so a socket sees
	// itself at once (list prefix → socket id → join order).
	local    map[string]map[string]localMember
	localSeq uint64
	ops      []op
	delayed  []op // leaves waiting for a recovery (due set)
	wake     chan struct{}
	nodeRev  uint64
	// purgeWake tells the purger the sweeper announced what it must remove.
	purgeWake chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	subs   []*bus.Subscription // queries and beats
	// answering holds a slot per backend query being read (maxAnswering).
	answering chan struct{}
}

type entry struct {
	where Where
	id    string
	user  string
	rev   uint64
}

type localMember struct {
	user string
	seq  uint64 // join order
	gen  uint64 // its last join: a delayed leave removes only the join it followed
}

type op struct {
	key    string
	e      entry
	join   bool
	resync bool      // a join storing again what was stored (perhaps removed meanwhile)
	silent bool      // a resync nobody announced as left: no event
	at     time.Time // when it was queued: writes give up writeWait after
	rev    uint64    // a delayed leave: the revision it may remove
	gen    uint64    // a delayed leave: the local join it may remove
	due    time.Time // a delayed leave: when
}

// Open opens (creating if needed) the presence bucket and starts this
// node's beats and heartbeat, its copy of the bucket, its sweeper and the
// answer to PresenceQuerySubject.
func Open(ctx context.Context, b *bus.Bus, cfg Config) (*Registry, error) {
	cfg = cfg.withDefaults()
	if cfg.Node == "" {
		cfg.Node = b.NodeID()
	}
	node, err := keyToken(cfg.Node)
	if err != nil {
		return nil, fmt.Errorf("failed to name node: %w", err)
	}
	own := value{Node: node}.encode()
	r := &Registry{
		b: b, cfg: cfg, node: node, warn: ratelog.New(cfg.Logger, time.Minute),
		ownValue: own[:len(own)-1], // {"n":"<node>" without the closing brace
		nodes:    newNodes(), view: newView(),
		mine: map[string]*entry{}, local: map[string]map[string]localMember{}, wake: make(chan struct{}, 1), purgeWake: make(chan struct{}, 1),
		answering: make(chan struct{}, maxAnswering),
	}
	if r.kv, err = r.openBucket(ctx); err != nil {
		return nil, err
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if err := r.start(ctx); err != nil {
		r.cancel()
		for _, s := range r.subs {
			_ = s.Unsubscribe()
		}
		r.wg.Wait()
		return nil, err
	}
	return r, nil
}

func (r *Registry) start(ctx context.Context) error {
	r.started = time.Now()
	beats, err := r.b.Subscribe(bus.PresenceBeatSubject, r.heard)
	if err != nil {
		return fmt.Errorf("failed to subscribe presence beats: %w", err)
	}
	r.subs = append(r.subs, beats)
	if err := r.checkBucket(ctx, false); err != nil { // notes the bucket's making
		return err
	}
	if err := r.heartbeat(ctx); err != nil {
		return fmt.Errorf("failed to write presence heartbeat: %w", err)
	}
	ready := make(chan struct{})
	r.wg.Add(1)
	go r.mirror(ready)
	select {
	case <-ready:
	case <-ctx.Done():
		return fmt.Errorf("failed to read presence bucket: %w", ctx.Err())
	}
	query, err := r.b.SubscribeQueue(bus.PresenceQueries, "sockbus-presence", r.answer)
	if err != nil {
		return fmt.Errorf("failed to subscribe presence queries: %w", err)
	}
	r.subs = append(r.subs, query)
	r.wg.Add(5)
	go r.work()
	go r.tick()
	go r.pulse()
	go r.sweeper()
	go r.purger()
	return nil
}

// openBucket creates the bucket, or binds to it.
func (r *Registry) openBucket(ctx context.Context) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	err := bus.Retry(ctx, func(ctx context.Context) (err error) {
		kv, err = r.b.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:         Bucket,
			History:        1,
			Storage:        jetstream.MemoryStorage,
			Replicas:       r.b.Replicas(),
			MaxBytes:       r.cfg.MaxBytes,
			LimitMarkerTTL: r.cfg.TTL,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failed to open presence bucket: %w", err)
	}
	return kv, nil
}

func (r *Registry) bucket() jetstream.KeyValue {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kv
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
	now := time.Now()
	o := op{key: prefix + id, e: entry{where: w, id: id, user: user}, join: join, at: now}
	r.mu.Lock()
	if later {
		o.due = now.Add(r.cfg.TTL)
	}
	switch {
	case join:
		if r.local[prefix] == nil {
			r.local[prefix] = map[string]localMember{}
		}
		r.localSeq++
		l, in := r.local[prefix][id]
		if !in {
			l.seq = r.localSeq
		}
		l.user, l.gen = user, r.localSeq
		r.local[prefix][id] = l
	case later:
		o.gen = r.local[prefix][id].gen
	default:
		r.dropLocalLocked(prefix, id)
	}
	r.ops = append(r.ops, o)
	r.mu.Unlock()
	r.poke()
}

func (r *Registry) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// work applies queued joins and leaves in order, one at a time: a write
// retried through a leader election holds the ones queued behind it, so
// the writes of one key never pass each other.
func (r *Registry) work() {
	defer r.wg.Done()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.wake:
		}
		for r.ctx.Err() == nil {
			r.mu.Lock()
			ops := r.ops
			r.ops = nil
			r.mu.Unlock()
			if len(ops) == 0 {
				break
			}
			for _, o := range ops {
				r.apply(o)
			}
		}
	}
}

func (r *Registry) apply(o op) {
	ctx, cancel := context.WithDeadline(r.ctx, o.at.Add(writeWait))
	defer cancel()
	if o.join {
		r.put(ctx, o)
		return
	}
	r.mu.Lock()
	cur := r.mine[o.key]
	if cur == nil {
		if !o.due.IsZero() { // never stored
			r.dropLocalIfLocked(o)
		}
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
	if !o.due.IsZero() { // a delayed leave, due: the socket did not come back here
		r.dropLocalIfLocked(o)
	}
	e := *cur
	r.mu.Unlock()
	r.remove(ctx, o.key, e)
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

// Close stops the node's presence. Nothing is written on the way out: a
// shutdown's sockets may recover elsewhere (present up to the TTL, as after
// any drop), and this node's members go when its beats stop, swept by the
// others as after a crash. Writing them here cost the shutdown its budget
// whenever the bucket could not answer (the last nodes of a cluster,
// without quorum): the bus drain that follows then ran out of time.
func (r *Registry) Close(ctx context.Context) error {
	for _, s := range r.subs {
		_ = s.Unsubscribe()
	}
	r.cancel()
	r.wg.Wait()
	return nil
}

func (r *Registry) dropLocalLocked(prefix, id string) {
	if delete(r.local[prefix], id); len(r.local[prefix]) == 0 {
		delete(r.local, prefix)
	}
}

// dropLocalIfLocked ends a delayed leave's membership in local, unless the
// socket joined again since.
func (r *Registry) dropLocalIfLocked(o op) {
	prefix, err := o.e.where.prefix()
	if l, in := r.local[prefix][o.e.id]; err == nil && in && l.gen == o.gen {
		r.dropLocalLocked(prefix, o.e.id)
	}
}
