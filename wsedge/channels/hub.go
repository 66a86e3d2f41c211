package channels

import (
	"errors"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// channelHub is one channel's bus subscription and its local members.
type channelHub struct {
	tok     string
	subject string
	sub     *bus.Subscription

	mu      sync.RWMutex
	members []*channelConn
}

// join adds cc to its channel's hub, subscribing on the channel's first
// local member. The subscription waits for every node of a cluster (up to
// a second), so it is made without c.mu: the first joiner claims the
// channel, concurrent joiners wait on the claim, and a failed subscribe
// fails them all.
func (c *Server) join(tok string, cc *channelConn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.hubs[tok] == nil {
		if p := c.pending[tok]; p != nil {
			c.mu.Unlock()
			<-p.done
			c.mu.Lock()
			if p.err != nil {
				return p.err
			}
			continue // subscribed, or already left by all: look again
		}
		if err := c.subscribeLocked(tok); err != nil {
			return err
		}
	}
	h := c.hubs[tok]
	h.mu.Lock()
	h.members = append(h.members, cc)
	h.mu.Unlock()
	cc.hub = h
	c.presenceOf(tok, cc, true)
	return nil
}

// hubClaim is a channel's subscription in flight; done closes when it
// has succeeded (the hub is in Server.hubs) or failed (err).
type hubClaim struct {
	done chan struct{}
	err  error
}

// subscribeLocked claims tok's hub, subscribes with c.mu released and
// records the hub; it is called, and returns, with c.mu held.
func (c *Server) subscribeLocked(tok string) error {
	p := &hubClaim{done: make(chan struct{})}
	c.pending[tok] = p
	c.mu.Unlock()
	h := &channelHub{tok: tok, subject: bus.ChannelSubject(tok)}
	sub, err := c.bus.Subscribe(bus.Live(h.subject), h.deliver(c))
	c.mu.Lock()
	delete(c.pending, tok)
	p.err = err
	close(p.done)
	if err != nil {
		return err
	}
	h.sub = sub
	c.hubs[tok] = h
	return nil
}

// leave removes cc, unsubscribing on the channel's last local member.
func (c *Server) leave(cc *channelConn) {
	cc.expiry.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.conns, cc)
	h := cc.hub
	if h == nil {
		return
	}
	c.presenceOf(h.tok, cc, false)
	h.mu.Lock()
	for i, m := range h.members {
		if m == cc {
			last := len(h.members) - 1
			h.members[i] = h.members[last]
			h.members[last] = nil
			h.members = h.members[:last]
			break
		}
	}
	empty := len(h.members) == 0
	h.mu.Unlock()
	if empty && c.hubs[h.tok] == h {
		delete(c.hubs, h.tok)
		_ = h.sub.Unsubscribe()
	}
}

// deliver fans one bus message out to the hub's local members: the frame is
// built once and queued by pointer; a member whose queue overflows is cut off.
func (h *channelHub) deliver(c *Server) func(*bus.Msg) {
	return func(m *bus.Msg) {
		binary := m.Header.Get(bus.HeaderBinary) == "1" || !utf8.Valid(m.Data)
		f := outq.NewFrame(binary, m.Data)
		var seq uint64
		if v := m.Header[bus.HeaderSequence]; len(v) > 0 {
			seq, _ = strconv.ParseUint(v[0], 10, 64)
		}
		h.mu.RLock()
		for _, cc := range h.members {
			if err := cc.push(seq, f); errors.Is(err, outq.ErrFull) {
				c.warn.Warn("websocket closed: slow consumer", "conn", cc.id)
				c.closeAsync(cc, wsedge.CloseSlowConsumer, wsedge.ReasonSlowConsumer)
			}
		}
		receivers := len(h.members)
		h.mu.RUnlock()
		c.cfg.Metrics.Delivered(metrics.KindWebSocket, receivers, receivers*len(m.Data))
	}
}
