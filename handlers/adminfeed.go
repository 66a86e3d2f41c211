package handlers

import (
	"encoding/json"
	"sync"

	"github.com/sockbus/sockbus/bus"
)

// The feed (bus.AdminFeedSubject) carries what every admin socket of the
// cluster sees (server_stats and the sockets' comings and goings): one
// message per event, its name in bus.HeaderAdminEvent, its arguments a JSON
// array. Every node with a local admin socket subscribes, so interest on it
// means someone watches. It is outside sockbus.>: no client can join or
// publish to it, and operators watching traffic do not see clients'
// handshakes.

// feedEvents are the events the feed may carry to admin sockets.
var feedEvents = map[string]bool{
	"server_stats": true, "socket_connected": true, "socket_updated": true,
	"socket_disconnected": true, "room_joined": true, "room_left": true,
}

// adminFeed is this node's subscription to the feed, held while the node
// has admin sockets.
type adminFeed struct {
	mu     sync.Mutex
	sub    *bus.Subscription
	closed bool
}

// watched reports whether an admin socket is connected on any node: the
// observer's events are built only then.
func (a *Admin) watched() bool { return a.bus.HasInterest(bus.AdminFeedSubject) }

// watch subscribes to the feed for a new local admin socket (already in
// the namespace: unwatch cannot miss it).
func (a *Admin) watch() {
	a.feed.mu.Lock()
	defer a.feed.mu.Unlock()
	if a.feed.sub != nil || a.feed.closed {
		return
	}
	sub, err := a.bus.Subscribe(bus.AdminFeedSubject, a.relayFeed)
	if err != nil {
		a.warn.Warn("admin UI: failed to follow the cluster's admin events", "err", err)
		return
	}
	a.feed.sub = sub
}

// unwatch drops the feed once no local admin socket is left.
func (a *Admin) unwatch(closing bool) {
	a.feed.mu.Lock()
	defer a.feed.mu.Unlock()
	a.feed.closed = a.feed.closed || closing
	if a.feed.sub != nil && (closing || a.ns.Len() == 0) {
		_ = a.feed.sub.Unsubscribe()
		a.feed.sub = nil
	}
}

// broadcast sends an event to every admin socket of the cluster.
func (a *Admin) broadcast(event string, args ...any) {
	data, err := json.Marshal(args)
	if err != nil {
		a.warn.Warn("admin UI: failed to encode", "event", event, "err", err)
		return
	}
	m := &bus.Msg{Subject: bus.AdminFeedSubject, Header: bus.Header{bus.HeaderAdminEvent: []string{event}}, Data: data}
	if err := a.bus.PublishLive(m); err != nil {
		a.warn.Warn("admin UI: failed to send", "event", event, "err", err)
	}
}

// relayFeed hands one feed message to this node's admin sockets.
func (a *Admin) relayFeed(m *bus.Msg) {
	event := m.Header.Get(bus.HeaderAdminEvent)
	if !feedEvents[event] || !json.Valid(m.Data) || len(m.Data) == 0 || m.Data[0] != '[' {
		a.warn.Warn("admin UI: dropping a malformed admin event", "event", event)
		return
	}
	if err := a.ns.Volatile().EmitRaw(event, m.Data, nil, nil); err != nil {
		a.warn.Warn("admin UI: failed to send", "event", event, "err", err)
	}
}
