package channels

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lxzan/gws"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/randid"
	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
	"github.com/sockbus/sockbus/wsedge/internal/wsconn"
)

// DefaultChannel is the channel of a client connecting to /ws.
const DefaultChannel = "default"

// ChannelsConfig configures plain WebSocket channels. The zero value works.
type ChannelsConfig struct {
	// MaxMessageBytes bounds one frame from a client; a bigger one closes
	// the connection with 1009. Default 1 MiB.
	MaxMessageBytes int
	// PingInterval is how often the server pings each connection. Default 25s.
	PingInterval time.Duration
	// PingTimeout is how long past a ping interval a silent connection
	// lives before it is reaped. Default 20s.
	PingTimeout time.Duration
	// ReadBufferSize is gws's per-connection read buffer. Default 1 KiB.
	ReadBufferSize int
	// Queue bounds each connection's outbound queue.
	Queue outq.Config
	// History serves ?history=N. Nil: the parameter is refused.
	History wsedge.History
	// MessagesPerSecond and MessageBurst bound the frames one connection
	// sends (a token bucket); a connection over the rate is closed with
	// CloseRateLimited. Default 100 per second, bursts of ten times that;
	// negative: no limit.
	MessagesPerSecond float64
	MessageBurst      int
	// AddressEvents bounds the messages of all the connections from one
	// address together (shared with the Socket.IO server's), closing the
	// one over it with CloseRateLimited. Nil: no per-address bound.
	AddressEvents *wsedge.AddressBudget
	// Authorizer admits or refuses each connection before the upgrade.
	// Nil: everyone is admitted.
	Authorizer wsedge.Authorizer
	// MaxHistory caps ?history=N (a larger N gets the last MaxHistory
	// messages), as socketio.Config.MaxHistory caps auth.history. Default
	// wsedge.DefaultMaxHistory.
	MaxHistory int
	// AllowedOrigins lists the browser origins, besides the server's own,
	// that may open a connection ("*": any); a request with another Origin
	// header gets 403. Requests without Origin (not browsers) are accepted.
	AllowedOrigins []string
	// Logger receives connection errors. Default slog.Default().
	Logger *slog.Logger
	// Metrics counts messages, deliveries, disconnects and refusals
	// (KindWebSocket). Nil: nothing is counted.
	Metrics *metrics.Set
}

func (c ChannelsConfig) withDefaults() ChannelsConfig {
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 1 << 20
	}
	if c.MessagesPerSecond == 0 {
		c.MessagesPerSecond = wsedge.DefaultEventsPerSecond
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = 1024
	}
	if c.MaxHistory <= 0 {
		c.MaxHistory = wsedge.DefaultMaxHistory
	}
	c.AllowedOrigins = slices.Clone(c.AllowedOrigins)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Channels serves plain WebSocket channels at /ws and /ws/{channel}. It is
// an http.Handler; all methods are safe for concurrent use.
type Channels struct {
	bus      *bus.Bus
	cfg      ChannelsConfig
	log      *slog.Logger
	warn     *ratelog.Logger // what clients can cause, rate-limited
	origins  engine.CORS
	upgrader *gws.Upgrader
	idPrefix string
	nextID   atomic.Uint64

	mu      sync.Mutex
	hubs    map[string]*channelHub // by channel token
	pending map[string]*hubClaim   // subscriptions in flight, by channel token
	conns   map[*channelConn]struct{}
	closing bool

	wg       sync.WaitGroup // read loops, closers and the pinger
	stopPing chan struct{}
}

// channelHub is one channel's bus subscription and its local members.
type channelHub struct {
	tok     string
	subject string
	sub     *bus.Subscription

	mu      sync.RWMutex
	members []*channelConn
}

// channelConn is one client connection.
type channelConn struct {
	id        string
	ws        *gws.Conn
	raw       net.Conn // ws's socket, written by q and, once q is done, by closeWith
	q         *outq.Queue
	hub       *channelHub
	user      string               // from the Authorizer's grant, for HeaderUser
	msgs      *wsedge.TokenBucket  // inbound frames; nil: no limit
	addr      *wsedge.AddressShare // its address's frames; nil: no limit
	closeOnce sync.Once
	expiry    wsedge.ExpiryTimer  // closes at the grant's expiry
	authReq   *wsedge.AuthRequest // the connect's request (no token) for refreshes; nil: no Authorizer
	cause     atomic.Int32        // 1 + the metrics.Reason it ended for, once known
	ch        *Channels

	hold  wsedge.LiveHold[*outq.Frame] // live messages held during a history replay
	order bus.Sender                   // what it sends is stored in this order
}

// push queues a live message, or holds it while history is being sent.
func (cc *channelConn) push(seq uint64, f *outq.Frame) error {
	if held, overflow := cc.hold.Offer(seq, f, 1, f.Size()); held {
		if overflow {
			return outq.ErrFull
		}
		return nil
	}
	return cc.q.Push(f)
}

// NewChannels returns the plain WebSocket handler publishing on b.
func NewChannels(b *bus.Bus, cfg ChannelsConfig) *Channels {
	cfg = cfg.withDefaults()
	c := &Channels{
		bus:      b,
		cfg:      cfg,
		log:      cfg.Logger,
		warn:     ratelog.New(cfg.Logger, 0),
		origins:  engine.CORS{AllowedOrigins: cfg.AllowedOrigins},
		idPrefix: randomTag(),
		hubs:     map[string]*channelHub{},
		pending:  map[string]*hubClaim{},
		conns:    map[*channelConn]struct{}{},
		stopPing: make(chan struct{}),
	}
	c.upgrader = gws.NewUpgrader(channelEvents{c}, &gws.ServerOption{
		ReadMaxPayloadSize: cfg.MaxMessageBytes,
		ReadBufferSize:     cfg.ReadBufferSize,
		CheckUtf8Enabled:   true,
		HandshakeTimeout:   10 * time.Second,
		NewSession:         wsconn.NewSlot[*channelConn],
	})
	c.wg.Add(1)
	go c.pingLoop()
	return c
}

// ChannelName extracts the channel from a request path: "/ws" and "/ws/"
// are DefaultChannel, "/ws/{name}" is name, percent-decoded.
func ChannelName(escapedPath string) (string, error) {
	rest, ok := strings.CutPrefix(escapedPath, "/ws")
	if !ok || (rest != "" && rest[0] != '/') {
		return "", fmt.Errorf("wsedge: %q is not a channel path", escapedPath)
	}
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" {
		return DefaultChannel, nil
	}
	name, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("wsedge: bad channel name: %w", err)
	}
	return name, nil
}

// ServeHTTP upgrades a request to a WebSocket connection on its channel.
func (c *Channels) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !c.origins.AllowsOrigin(r) {
		c.warn.Warn("websocket refused: origin not allowed", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		c.cfg.Metrics.Refused(metrics.ReasonOrigin)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	name, err := ChannelName(r.URL.EscapedPath())
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	tok, err := bus.EncodeToken(name)
	if err != nil {
		http.Error(w, "channel name longer than 255 bytes", http.StatusBadRequest)
		return
	}
	if !wsconn.IsUpgrade(r) {
		// Refused before anything exists for the channel: a page embedding
		// <img src=".../ws/x"> costs the server nothing.
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "not a WebSocket upgrade", http.StatusUpgradeRequired)
		return
	}
	history := 0
	if h := r.URL.Query().Get("history"); h != "" {
		history, err = strconv.Atoi(h)
		if err != nil || history < 0 {
			http.Error(w, "history must be a non-negative integer", http.StatusBadRequest)
			return
		}
		if c.cfg.History == nil {
			http.Error(w, "history is not enabled", http.StatusBadRequest)
			return
		}
		history = min(history, c.cfg.MaxHistory)
	}
	// Before anything is subscribed: a refused client creates nothing.
	var grant wsedge.Grant
	var authReq *wsedge.AuthRequest
	if a := c.cfg.Authorizer; a != nil {
		actx, cancel := context.WithTimeout(r.Context(), wsedge.AuthTimeout)
		grant, err = a.Authorize(actx, wsedge.AuthRequest{
			Kind: wsedge.AuthChannel, Name: name, Token: tokenFromRequest(r),
			Header: r.Header, Query: r.URL.Query(), RemoteAddr: r.RemoteAddr,
		})
		cancel()
		authReq = refreshTemplate(r, name)
		if err != nil {
			msg, _, status := wsedge.Refusal(err)
			c.log.Debug("connect refused", "channel", name, "remote", r.RemoteAddr, "err", err)
			c.cfg.Metrics.Refused(metrics.ReasonAuth)
			c.warn.Warn("websocket refused: auth", "channel", name, "remote", r.RemoteAddr, "err", err)
			http.Error(w, msg, status)
			return
		}
	}
	log := c.bus.Log(bus.KindChannel, tok)
	c.mu.Lock()
	closing := c.closing
	if !closing {
		c.wg.Add(1)
	}
	c.mu.Unlock()
	if closing {
		http.Error(w, wsedge.ReasonShutdown, http.StatusServiceUnavailable)
		return
	}
	defer c.wg.Done()

	// Subscribe before the upgrade answers: once the client sees its
	// connection open, a message published on the channel reaches it. Live
	// messages are held until the connection (and any history) is ready.
	cc := &channelConn{ch: c, id: c.idPrefix + strconv.FormatUint(c.nextID.Add(1), 36), user: grant.User,
		msgs: wsedge.NewTokenBucket(c.cfg.MessagesPerSecond, c.cfg.MessageBurst), authReq: authReq}
	cc.hold.Start(c.cfg.Queue)
	if err := c.join(tok, cc); err != nil {
		c.log.Error("channel subscribe failed", "channel", name, "err", err)
		http.Error(w, "channel unavailable", http.StatusServiceUnavailable)
		return
	}
	ws, raw, err := wsconn.Upgrade(c.upgrader, w, r, c.cfg.ReadBufferSize)
	if err != nil {
		c.log.Debug("websocket upgrade failed", "err", err)
		c.leave(cc)
		return
	}
	cc.ws = ws
	cc.raw = raw
	cc.q = outq.New(raw, c.cfg.Queue, func(err error) {
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			// The client took nothing for the write timeout: a slow
			// consumer, told so if it ever reads again.
			c.warn.Warn("websocket closed: slow consumer", "conn", cc.id, "err", err)
			c.closeAsync(cc, wsedge.CloseSlowConsumer, wsedge.ReasonSlowConsumer)
			return
		}
		c.log.Debug("write failed", "conn", cc.id, "err", err)
		_ = ws.NetConn().Close()
	})
	wsconn.Set(ws, cc)
	_ = ws.SetReadDeadline(time.Now().Add(c.cfg.PingInterval + c.cfg.PingTimeout))

	if !c.track(cc) {
		c.leave(cc)
		cc.closeWith(wsedge.CloseGoingAway, wsedge.ReasonShutdown)
		return
	}
	var last uint64
	if history > 0 {
		if last, err = c.replay(log, cc, history); err != nil {
			c.leave(cc)
			if errors.Is(err, errReplaySlow) {
				c.warn.Warn("history replay: client too slow, closed", "channel", name, "conn", cc.id, "err", err)
				c.cfg.Metrics.Outcome(metrics.HistoryFailed)
				cc.closeWith(wsedge.CloseSlowConsumer, wsedge.ReasonSlowConsumer)
			} else {
				c.warn.Error("history replay failed", "channel", name, "err", err)
				c.cfg.Metrics.Outcome(metrics.HistoryFailed)
				cc.closeWith(wsedge.CloseInternalError, wsedge.ReasonHistoryError)
			}
			return
		}
		c.cfg.Metrics.Outcome(metrics.HistoryServed)
	}
	cc.hold.Release(last, func(f *outq.Frame) {
		if cc.q.Push(f) == outq.ErrFull {
			c.closeAsync(cc, wsedge.CloseSlowConsumer, wsedge.ReasonSlowConsumer)
		}
	})
	// Its own goroutine: closeWith's wait is bounded by the write timeout.
	cc.expiry.Set(grant.Expires, func() { cc.closeWith(wsedge.CloseTokenExpired, wsedge.ReasonTokenExpired) })
	// The read loop gets a fresh goroutine (as in the engine): the request
	// goroutine's stack has grown through net/http and would stay that size
	// for the connection's life.
	cc.addr = c.cfg.AddressEvents.Acquire(r.RemoteAddr) // released by OnClose, once the read loop ends
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ws.ReadLoop()
	}()
}

// historyTimeout bounds a whole ?history=N replay.
const historyTimeout = time.Minute

// errReplaySlow means a replay's client did not take its messages in time.
var errReplaySlow = errors.New("client did not read the history in time")

// replay sends the last n messages of the channel to cc, pacing on the
// client: each message waits until cc's queue is at most half full, for up
// to the queue's write timeout, so a replay larger than the queue goes out
// in bounded batches instead of overflowing it.
func (c *Channels) replay(l bus.Log, cc *channelConn, n int) (uint64, error) {
	// Not r.Context(): the request is hijacked.
	ctx, cancel := context.WithTimeout(context.Background(), historyTimeout)
	defer cancel()
	wait := c.cfg.Queue.WriteTimeout
	if wait <= 0 {
		wait = 10 * time.Second
	}
	return c.cfg.History.ChannelHistory(ctx, l, n, func(binary bool, data []byte) error {
		wctx, cancel := context.WithTimeout(ctx, wait)
		err := cc.q.WaitRoom(wctx)
		cancel()
		if err == nil {
			err = cc.q.Push(outq.NewFrame(binary, data))
		}
		if err != nil {
			return fmt.Errorf("%w: %w", errReplaySlow, err)
		}
		return nil
	})
}

// track registers a connection unless the handler is shutting down.
func (c *Channels) track(cc *channelConn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.conns[cc] = struct{}{}
	return true
}

// join adds cc to its channel's hub, subscribing on the channel's first
// local member. The subscription waits for every node of a cluster (up to
// a second), so it is made without c.mu: the first joiner claims the
// channel, concurrent joiners wait on the claim, and a failed subscribe
// fails them all.
func (c *Channels) join(tok string, cc *channelConn) error {
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
	return nil
}

// hubClaim is a channel's subscription in flight; done closes when it
// has succeeded (the hub is in Channels.hubs) or failed (err).
type hubClaim struct {
	done chan struct{}
	err  error
}

// subscribeLocked claims tok's hub, subscribes with c.mu released and
// records the hub; it is called, and returns, with c.mu held.
func (c *Channels) subscribeLocked(tok string) error {
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
func (c *Channels) leave(cc *channelConn) {
	cc.expiry.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.conns, cc)
	h := cc.hub
	if h == nil {
		return
	}
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
func (h *channelHub) deliver(c *Channels) func(*bus.Msg) {
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

// closeAsync closes a connection without blocking the caller (a bus
// delivery goroutine must never wait on one client's socket).
func (c *Channels) closeAsync(cc *channelConn, code wsedge.CloseCode, reason string) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		// Out of the hub and the count at once: the close frame may wait
		// for a stalled client (CloseWriteTimeout).
		c.leave(cc)
		cc.closeWith(code, reason)
	}()
}

// closeCause is the metrics reason of a close code the server sends.
func closeCause(code wsedge.CloseCode) metrics.Reason {
	switch code {
	case wsedge.CloseGoingAway:
		return metrics.ReasonShutdown
	case wsedge.CloseSlowConsumer:
		return metrics.ReasonSlowConsumer
	case wsedge.CloseInternalError:
		return metrics.ReasonBusError
	case wsedge.CloseMessageTooBig:
		return metrics.ReasonOversize
	case wsedge.CloseInvalidPayload:
		return metrics.ReasonBadUTF8
	case wsedge.CloseTokenExpired:
		return metrics.ReasonAuth
	case wsedge.CloseRateLimited:
		return metrics.ReasonRateLimit
	}
	return metrics.ReasonOther
}

// ended counts cc's end once, for the first reason known: the server's
// when it closes cc (at once, not when a stalled client's close frame
// finally goes), else what the reader saw. Refusals are warned, but slow
// consumers are warned where they are cut.
func (c *Channels) ended(cc *channelConn, r metrics.Reason) {
	if !cc.cause.CompareAndSwap(0, int32(r)+1) {
		return
	}
	if r.Refusal() && r != metrics.ReasonSlowConsumer {
		c.warn.Warn("websocket closed: "+r.String(), "conn", cc.id)
	}
	if m := c.cfg.Metrics; m != nil {
		m.Disconnected(metrics.KindWebSocket, r)
		m.Refused(r)
	}
}

// disconnectCause is why the reader saw a connection end.
func disconnectCause(err error) metrics.Reason {
	if fault, ok := wsconn.Fault(err); ok {
		return fault
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return metrics.ReasonPingTimeout // reaped: no frame, not even a pong, in time
	case wsedge.CloseStatus(err) != -1, errors.Is(err, io.EOF):
		return metrics.ReasonClientClose
	}
	return metrics.ReasonTransportError
}

// Live counts this node's open plain WebSocket connections and the
// channels they are in (for metrics scrapes).
func (c *Channels) Live() metrics.Live {
	c.mu.Lock()
	defer c.mu.Unlock()
	return metrics.Live{WebSocketConns: len(c.conns), Channels: len(c.hubs)}
}

// closeWith discards what is queued, sends a close frame (bounded: the
// client may not be reading) and closes the socket.
func (cc *channelConn) closeWith(code wsedge.CloseCode, reason string) {
	cc.ch.ended(cc, closeCause(code))
	cc.closeOnce.Do(func() {
		cc.q.Close()
		wait := wsconn.ControlWriteTimeout
		if code == wsedge.CloseSlowConsumer {
			// The client stalled: its close frame goes after the frame
			// being written, whole, and it gets CloseWriteTimeout to read
			// up to it. Other closes (shutdown) stay quick.
			cc.q.Wait()
			wait = wsedge.CloseWriteTimeout
			if rest := cc.q.Unfinished(); rest != nil {
				_ = cc.raw.SetWriteDeadline(time.Now().Add(wait))
				if _, err := rest.WriteTo(cc.raw); err != nil {
					_ = cc.ws.NetConn().Close()
					return
				}
			}
		}
		_ = wsconn.WriteClose(cc.ws, uint16(code), reason, wait)
		_ = cc.ws.NetConn().Close()
	})
}

func (c *Channels) pingLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.PingInterval)
	defer t.Stop()
	ping := outq.NewPingFrame(nil)
	for {
		select {
		case <-c.stopPing:
			return
		case <-t.C:
		}
		c.mu.Lock()
		conns := make([]*channelConn, 0, len(c.conns))
		for cc := range c.conns {
			conns = append(conns, cc)
		}
		c.mu.Unlock()
		for _, cc := range conns {
			if err := cc.q.Push(ping); errors.Is(err, outq.ErrFull) {
				c.closeAsync(cc, wsedge.CloseSlowConsumer, wsedge.ReasonSlowConsumer)
			}
		}
	}
}

// Len reports the number of open connections.
func (c *Channels) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}

// Close refuses new connections, closes every open one with 1001 and waits
// (bounded by ctx) for their goroutines to end. It is idempotent.
func (c *Channels) Close(ctx context.Context) error {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		close(c.stopPing)
	}
	conns := make([]*channelConn, 0, len(c.conns))
	for cc := range c.conns {
		conns = append(conns, cc)
	}
	c.mu.Unlock()
	for _, cc := range conns {
		c.closeAsync(cc, wsedge.CloseGoingAway, wsedge.ReasonShutdown)
	}
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("failed to close websocket channels: %w", ctx.Err())
	}
}

// channelEvents adapts gws callbacks to Channels. gws calls them on each
// connection's read goroutine; none of them blocks.
type channelEvents struct{ c *Channels }

func (e channelEvents) alive(ws *gws.Conn) {
	_ = ws.SetReadDeadline(time.Now().Add(e.c.cfg.PingInterval + e.c.cfg.PingTimeout))
}

func (e channelEvents) OnOpen(*gws.Conn) {}

func (e channelEvents) OnClose(ws *gws.Conn, err error) {
	cc := wsconn.Of[*channelConn](ws)
	if cc == nil {
		return
	}
	cc.closeOnce.Do(func() {}) // the peer or gws closed it: nothing left to send
	cc.q.Close()
	e.c.cfg.AddressEvents.Release(cc.addr)
	e.c.leave(cc)
	e.c.ended(cc, disconnectCause(err))
	if code := wsedge.CloseStatus(err); code != -1 && code != int(wsedge.CloseNormal) && code != int(wsedge.CloseGoingAway) {
		e.c.log.Debug("websocket closed", "conn", cc.id, "code", code, "err", err)
	}
}

func (e channelEvents) OnPing(ws *gws.Conn, payload []byte) {
	e.alive(ws)
	if cc := wsconn.Of[*channelConn](ws); cc != nil {
		_ = cc.q.Push(outq.NewPongFrame(append([]byte(nil), payload...)))
	}
}

func (e channelEvents) OnPong(ws *gws.Conn, _ []byte) { e.alive(ws) }

func (e channelEvents) OnMessage(ws *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	e.alive(ws)
	cc := wsconn.Of[*channelConn](ws)
	if cc == nil || cc.hub == nil {
		return
	}
	if !cc.msgs.Allow() {
		e.c.closeAsync(cc, wsedge.CloseRateLimited, wsedge.ReasonRateLimited)
		return
	}
	if !cc.addr.Allow() {
		e.c.warn.Warn("websocket refused: per-address rate limit", "conn", cc.id, "address", cc.addr.Addr())
		e.c.closeAsync(cc, wsedge.CloseRateLimited, wsedge.ReasonRateLimited)
		return
	}
	if tok, ok := refreshToken(cc, msg); ok {
		e.c.refresh(cc, tok)
		return
	}
	m := &bus.Msg{Subject: cc.hub.subject, Header: bus.Header{}}
	m.Data = append([]byte(nil), msg.Bytes()...) // gws reuses msg's buffer
	e.c.cfg.Metrics.Events(metrics.KindWebSocket, 1, len(m.Data))
	m.Header.Set(bus.HeaderFrom, cc.id)
	if cc.user != "" {
		m.Header.Set(wsedge.HeaderUser, cc.user)
	}
	if msg.Opcode == gws.OpcodeBinary {
		m.Header.Set(bus.HeaderBinary, "1")
	}
	if err := e.c.bus.PublishStoredBy(&cc.order, m, func(err error) { e.stored(cc, err) }); err != nil {
		e.stored(cc, err)
	}
}

// stored learns whether a client's message was stored: one that was not
// is a gap in the order the client sent, so the connection is closed.
func (e channelEvents) stored(cc *channelConn, err error) {
	if err == nil {
		return
	}
	e.c.warn.Warn("publish failed", "conn", cc.id, "err", err)
	e.c.cfg.Metrics.PublishError()
	e.c.closeAsync(cc, wsedge.CloseInternalError, wsedge.ReasonBusError)
}

func randomTag() string {
	return randid.Hex(4) + "-"
}
