package bus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockbus/sockbus/internal/randid"
)

// Kind says whether a name is a plain WebSocket channel or a Socket.IO
// namespace.
type Kind string

const (
	// KindChannel is a plain WebSocket channel: public subject sockbus.ws.<channel>.
	KindChannel Kind = "ws"
	// KindNamespace is a Socket.IO namespace: public subjects sockbus.io.<ns>.>.
	KindNamespace Kind = "io"
)

// LayoutConfig fixes the node's streams. Nothing a client sends adds one:
// every name is stored either in a stream the operator declared for it or
// in one of a fixed number of shared streams, chosen by a hash of the name.
// Every node of a cluster must use the same layout.
type LayoutConfig struct {
	// SharedStreams is how many shared streams hold the names that have no
	// stream of their own. More streams make a name's reads scan less of
	// other names' events; each is a file set (and, replicated, a Raft
	// group). Default 4.
	SharedStreams int
	// OwnNamespaces are Socket.IO namespaces (e.g. "/chat") stored in a
	// stream of their own: their reads never scan other names' events.
	OwnNamespaces []string
	// OwnChannels are plain WebSocket channels stored in a stream of their own.
	OwnChannels []string
	// LegacyStreams says what to do with streams of the per-name layout
	// (SOCKBUS_IO_*, SOCKBUS_WS_*) found at start: "keep" (default) leaves
	// them untouched and unread, "delete" deletes them.
	LegacyStreams string
}

// MaxSharedStreams bounds LayoutConfig.SharedStreams.
const MaxSharedStreams = 64

// maxOwnNameLen bounds a declared name so that its stream name stays valid.
const maxOwnNameLen = 200

// Stored subjects. A name's events are published under its public subject
// (sockbus.io.<ns>.… or sockbus.ws.<channel>) with the storage part inserted:
//
//	sockbus.store.<shard>.io.<ns>.…   a shared stream, shard = fnv32a(<ns>) mod SharedStreams
//	sockbus.store.own.io.<ns>.…       the namespace's own stream
//
// and JetStream republishes them, once stored, under sockbus.live. with the
// storage part removed. The shard is the hash NATS's own subject mapping
// {{partition(n,1)}} computes, so the embedded server maps backends'
// publishes on public subjects to the same place (see mappings).
// (The stored subjects are built in subject.go: storedSubject.)

// Stream is one JetStream stream of the layout.
type Stream struct {
	// Name is the JetStream stream name.
	Name string
	// Subject is the subject pattern the stream captures.
	Subject string
	// Epoch changes whenever the stream is recreated, so a stored sequence
	// from another epoch is known not to refer to this log.
	Epoch string
	// JS is the stream handle.
	JS jetstream.Stream
}

// Log is where one channel or namespace is stored: a stream, and the
// subjects of that stream that are this name's. Reads must filter by
// Filter; the stream may hold other names.
type Log struct {
	Stream *Stream
	// Filter matches exactly this name's stored subjects.
	Filter string
	// Own is true when the stream holds this name alone.
	Own bool
}

// Epoch is the epoch of the log's stream.
func (l Log) Epoch() string { return l.Stream.Epoch }

// layout is the node's fixed set of streams.
type layout struct {
	shared []*Stream
	own    map[string]*Stream // kind + "." + token
}

func ownKey(kind Kind, tok string) string { return string(kind) + "." + tok }

// ownTokens encodes declared names, refusing any that could not be a stream.
func ownTokens(kind Kind, names []string) ([]string, error) {
	toks := make([]string, 0, len(names))
	seen := map[string]bool{}
	for _, name := range names {
		if kind == KindNamespace {
			if !strings.HasPrefix(name, "/") {
				return nil, fmt.Errorf("bus: declared namespace %q must start with '/'", name)
			}
			name = name[1:]
		}
		if len(name) > maxOwnNameLen {
			return nil, fmt.Errorf("bus: declared name %q is over %d bytes", name, maxOwnNameLen)
		}
		tok, err := EncodeToken(name)
		if err != nil {
			return nil, fmt.Errorf("bus: declared name %q: %w", name, err)
		}
		if !seen[tok] {
			seen[tok] = true
			toks = append(toks, tok)
		}
	}
	sort.Strings(toks)
	return toks, nil
}

// shardOf is NATS's {{partition(n, …)}} hash of one token: FNV-1a 32 mod n.
func shardOf(tok string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(tok))
	return int(h.Sum32() % uint32(n))
}

// Log returns where the channel or namespace with token tok is stored. It
// never creates anything: the layout was fixed at Start.
func (b *Bus) Log(kind Kind, tok string) Log {
	tail := publicTail(kind, tok)
	if s := b.layout.own[ownKey(kind, tok)]; s != nil {
		return Log{Stream: s, Filter: storedSubject(ownPart, tail), Own: true}
	}
	k := shardOf(tok, len(b.layout.shared))
	return Log{Stream: b.layout.shared[k], Filter: storedSubject(sharedPart(k), tail)}
}

// StoreSubject turns a public subject (sockbus.io.<ns>.… or
// sockbus.ws.<channel>) into the stored subject of its name's log. Other
// subjects are returned unchanged.
func (b *Bus) StoreSubject(subject string) string {
	kind, tok, ok := splitPublic(subject)
	if !ok {
		return subject
	}
	part := ownPart
	if b.layout.own[ownKey(kind, tok)] == nil {
		k := shardOf(tok, len(b.layout.shared))
		part = sharedPart(k)
	}
	return storedSubject(part, subject[len(Prefix):])
}

// streamConfigs lists every stream of the layout with its JetStream config.
func (b *Bus) streamConfigs(nsToks, chToks []string) []jetstream.StreamConfig {
	h := b.cfg.History
	base := func(name, subject, live string) jetstream.StreamConfig {
		var republish *jetstream.RePublish
		if !b.liveByNode { // else the node publishes live itself (live.go)
			republish = &jetstream.RePublish{Source: subject, Destination: live}
		}
		return jetstream.StreamConfig{
			Name:        name,
			Subjects:    []string{subject},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      max(h.MaxAge, 0), // JetStream's 0: no limit
			MaxMsgs:     h.MaxMsgs,
			MaxBytes:    h.MaxBytes,
			MaxMsgSize:  int32(b.cfg.MaxPayload + 64<<10),
			AllowDirect: true,
			Duplicates:  b.dupWindow(),
			Replicas:    b.cfg.Replicas,
			RePublish:   republish,
			Metadata:    map[string]string{epochKey: newEpoch()},
		}
	}
	var cfgs []jetstream.StreamConfig
	for k := range b.cfg.Layout.SharedStreams {
		subject := storedSubject(sharedPart(k), ">")
		cfgs = append(cfgs, base("SOCKBUS_SHARED_"+strconv.Itoa(k), subject, LivePrefix+">"))
	}
	for _, tok := range nsToks {
		tail := publicTail(KindNamespace, tok)
		cfgs = append(cfgs, base("SOCKBUS_OWN_IO_"+tok, storedSubject(ownPart, tail), LivePrefix+tail))
	}
	for _, tok := range chToks {
		tail := publicTail(KindChannel, tok)
		cfgs = append(cfgs, base("SOCKBUS_OWN_WS_"+tok, storedSubject(ownPart, tail), LivePrefix+tail))
	}
	return cfgs
}

// dupWindow is how long a stream remembers message ids: as long as a
// publish may be resent (the store timeout plus one unanswered attempt),
// and no longer, since the ids of that window are kept in memory. It
// cannot exceed the stream's MaxAge (when it has one).
func (b *Bus) dupWindow() time.Duration {
	w := b.cfg.StoreTimeout + attemptTimeout
	if b.cfg.History.MaxAge > 0 {
		w = min(w, b.cfg.History.MaxAge)
	}
	return w
}

// openLayout creates or adopts every stream of the layout, then deals with
// streams of the old per-name layout. It runs before the bus reports ready.
func (b *Bus) openLayout(ctx context.Context) error {
	nsToks, err := ownTokens(KindNamespace, b.cfg.Layout.OwnNamespaces)
	if err != nil {
		return err
	}
	chToks, err := ownTokens(KindChannel, b.cfg.Layout.OwnChannels)
	if err != nil {
		return err
	}
	l := &layout{own: map[string]*Stream{}}
	for _, cfg := range b.streamConfigs(nsToks, chToks) {
		s, err := b.openStream(ctx, cfg)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(cfg.Name, "SOCKBUS_SHARED_"):
			l.shared = append(l.shared, s)
		case strings.HasPrefix(cfg.Name, "SOCKBUS_OWN_IO_"):
			l.own[ownKey(KindNamespace, strings.TrimPrefix(cfg.Name, "SOCKBUS_OWN_IO_"))] = s
		default:
			l.own[ownKey(KindChannel, strings.TrimPrefix(cfg.Name, "SOCKBUS_OWN_WS_"))] = s
		}
	}
	b.layout = l
	b.streamNames = map[string]string{}
	for _, s := range l.shared {
		b.streamNames[s.Name] = s.Name
	}
	for _, s := range l.own {
		b.streamNames[s.Name] = s.Name
	}
	return b.legacyStreams(ctx)
}

// errCodeNoPeers is JetStream's "no suitable peers for placement".
const errCodeNoPeers jetstream.ErrorCode = 10005

// epochKey is the stream metadata key holding the epoch chosen at creation.
const epochKey = "sockbus_epoch"

// openStream creates a stream or adopts an existing one, bringing its
// limits up to date and keeping its epoch.
func (b *Bus) openStream(ctx context.Context, cfg jetstream.StreamConfig) (*Stream, error) {
	var js jetstream.Stream
	err := Retry(ctx, func(ctx context.Context) (err error) {
		js, err = b.js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			js, err = b.adoptStream(ctx, cfg)
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				// Another node's create is still being placed in the
				// cluster: the name is taken, the stream not yet there.
				err = fmt.Errorf("%w: %w", errRetry, err)
			}
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeNoPeers {
			// Peers still joining: not enough of them known for the
			// replicas yet.
			err = fmt.Errorf("%w: %w", errRetry, err)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failed to open stream %s: %w", cfg.Name, err)
	}
	info := js.CachedInfo()
	epoch := info.Config.Metadata[epochKey]
	if epoch == "" {
		epoch = strconv.FormatInt(info.Created.UnixMilli(), 36)
	}
	return &Stream{Name: cfg.Name, Subject: cfg.Subjects[0], Epoch: epoch, JS: js}, nil
}

func (b *Bus) adoptStream(ctx context.Context, want jetstream.StreamConfig) (jetstream.Stream, error) {
	js, err := b.js.Stream(ctx, want.Name)
	if err != nil {
		return nil, err
	}
	have := js.CachedInfo().Config
	if have.MaxAge == want.MaxAge && have.MaxMsgs == want.MaxMsgs && have.MaxBytes == want.MaxBytes &&
		have.MaxMsgSize == want.MaxMsgSize && have.Duplicates == want.Duplicates && sameRePublish(have.RePublish, want.RePublish) {
		return js, nil
	}
	have.MaxAge, have.MaxMsgs, have.MaxBytes, have.MaxMsgSize = want.MaxAge, want.MaxMsgs, want.MaxBytes, want.MaxMsgSize
	have.Duplicates, have.RePublish = want.Duplicates, want.RePublish
	return b.js.UpdateStream(ctx, have)
}

// sameRePublish reports whether two RePublish settings are the same (the
// node's mode, live.go, may have changed since the stream was created).
func sameRePublish(x, y *jetstream.RePublish) bool {
	if x == nil || y == nil {
		return x == y
	}
	return *x == *y
}

// legacyStreams finds streams the per-name layout created (one per channel
// or namespace ever named) and keeps or deletes them, saying so in one line.
// Kept ones are never read or written by this version: their subjects
// (sockbus.io.<ns>.>, sockbus.ws.<channel>) are public subjects, which the
// node never publishes on and the embedded server maps to stored ones.
func (b *Bus) legacyStreams(ctx context.Context) error {
	var names []string
	err := Retry(ctx, func(ctx context.Context) error {
		names = names[:0]
		l := b.js.StreamNames(ctx)
		for n := range l.Name() {
			if strings.HasPrefix(n, "SOCKBUS_IO_") || strings.HasPrefix(n, "SOCKBUS_WS_") {
				names = append(names, n)
			}
		}
		return l.Err()
	})
	if err != nil {
		return fmt.Errorf("failed to list streams: %w", err)
	}
	if len(names) == 0 {
		return nil
	}
	if b.cfg.Layout.LegacyStreams != "delete" {
		b.log.Warn("found streams of the per-name layout; left untouched and not read (remove them with --legacy-streams=delete or `nats stream rm`)",
			"count", len(names), "example", names[0])
		return nil
	}
	deleted := 0
	for _, n := range names {
		if err := Retry(ctx, func(ctx context.Context) error { return b.js.DeleteStream(ctx, n) }); err != nil {
			return fmt.Errorf("failed to delete legacy stream %s: %w", n, err)
		}
		deleted++
	}
	b.log.Warn("deleted streams of the per-name layout", "count", deleted, "example", names[0])
	return nil
}

func newEpoch() string { return randid.Hex(6) }

// mappings are the embedded server's subject mappings that let a backend
// publish on a public subject (nats pub sockbus.io.chat.all.news) and have
// it stored in the name's log, exactly where the node itself stores it:
// declared names first (the server takes the first mapping that matches).
func (b *Bus) mappings() ([][2]string, error) {
	nsToks, err := ownTokens(KindNamespace, b.cfg.Layout.OwnNamespaces)
	if err != nil {
		return nil, err
	}
	chToks, err := ownTokens(KindChannel, b.cfg.Layout.OwnChannels)
	if err != nil {
		return nil, err
	}
	var m [][2]string
	for _, tok := range nsToks {
		tail := publicTail(KindNamespace, tok)
		m = append(m, [2]string{Prefix + tail, storedSubject(ownPart, tail)})
	}
	for _, tok := range chToks {
		tail := publicTail(KindChannel, tok)
		m = append(m, [2]string{Prefix + tail, storedSubject(ownPart, tail)})
	}
	// The server's own hash of the name token, as shardOf computes it.
	partition := "{{partition(" + strconv.Itoa(b.cfg.Layout.SharedStreams) + ",1)}}"
	m = append(m,
		[2]string{Prefix + publicTail(KindNamespace, "*"), storedSubject(partition, publicTail(KindNamespace, "{{wildcard(1)}}"))},
		[2]string{Prefix + publicTail(KindChannel, "*"), storedSubject(partition, publicTail(KindChannel, "{{wildcard(1)}}"))},
	)
	return m, nil
}
