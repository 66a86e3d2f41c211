package handlers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/randid"
	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// The server side of the Socket.IO Admin UI (@socket.io/admin-ui, whose
// dist/index.js and typings are the protocol's definition): a namespace,
// "/admin", where the server sends "config" and "all_sockets" to each
// admin socket that joins, "server_stats" every StatsInterval from every
// node, and socket_connected, socket_updated (a transport upgrade),
// socket_disconnected, room_joined and room_left as they happen on any node; admin sockets send the operations
// "emit", "join", "leave" and "_disconnect" (unless read-only).
//
// Cluster-wide, on internal subjects only: the admin namespace is
// node-local (socketio.Server.OfLocal: nothing on sockbus.> reaches it, and
// it publishes nothing there); what every admin socket must see travels on
// bus.AdminFeedSubject (adminfeed.go) to every node with admin sockets;
// "all_sockets" gathers every admin node's local sockets with a request on
// bus.AdminSocketsSubject; operations are the cluster-wide Operator operations.
// Every node reserves the admin namespace, admin UI on or off (Relay).
//
// Every node with the admin UI on answers bus.AdminSocketsSubject with the
// list of its local sockets, and is present on bus.AdminPresenceSubject,
// whose count (bus.Interest) is how many answers to wait for.

// Admin UI features (typed-events.d.ts, Feature).
const (
	featEmit        = "EMIT"
	featJoin        = "JOIN"
	featLeave       = "LEAVE"
	featDisconnect  = "DISCONNECT"
	featMJoin       = "MJOIN"
	featMLeave      = "MLEAVE"
	featMDisconnect = "MDISCONNECT"
)

// errInvalidCredentials is the refusal the UI recognises (it shows its
// login form again on exactly this message).
var errInvalidCredentials = &wsedge.ConnectError{Message: "invalid credentials", Status: 401}

// AdminConfig configures the admin UI's server side. The zero value runs
// it open (no credentials), read-write, on "/admin".
type AdminConfig struct {
	// Namespace is the admin namespace. Default "/admin".
	Namespace string
	// User and PasswordHash (a bcrypt hash) are the credentials the UI's
	// login form must give. Both empty: no authentication (a warning is
	// logged). One without the other is an error.
	User         string
	PasswordHash string
	// ReadOnly refuses every operation (emit, join, leave, disconnect).
	ReadOnly bool
	// StatsInterval is how often each node sends server_stats. Default 2s,
	// as socket.io.
	StatsInterval time.Duration
	// GatherTimeout bounds how long all_sockets waits for the other nodes.
	// Default 2s.
	GatherTimeout time.Duration
	// ServerID names this node in server_stats. Default the hostname and
	// the bus node's id.
	ServerID string
	// MaxSessions bounds the login sessions kept (the oldest is dropped
	// past it); SessionTTL is how long one stays valid. Defaults 1000, 24h.
	MaxSessions int
	SessionTTL  time.Duration
	// Failed logins (see loginGuard): MaxLoginFailuresPerAddress from one
	// client address and MaxLoginFailures in all per LoginWindow, past which
	// logins are refused without a password check; LoginConcurrency
	// password checks at a time, a login waiting at most LoginWait for one;
	// a connection is closed at its MaxLoginFailuresPerConn-th failure.
	// Defaults 5, 100, 1m, 1, 2s, 3.
	MaxLoginFailuresPerAddress int
	MaxLoginFailures           int
	LoginWindow                time.Duration
	LoginConcurrency           int
	LoginWait                  time.Duration
	MaxLoginFailuresPerConn    int
	// Metrics counts login results (nil: none).
	Metrics *metrics.Set
	// Logger receives warnings. Default slog.Default().
	Logger *slog.Logger
}

// DefaultAdminConfig is the zero AdminConfig with its defaults filled in.
func DefaultAdminConfig() AdminConfig { return AdminConfig{}.withDefaults() }

func (c AdminConfig) withDefaults() AdminConfig {
	if c.Namespace == "" {
		c.Namespace = AdminNamespace
	}
	if c.StatsInterval <= 0 {
		c.StatsInterval = 2 * time.Second
	}
	if c.GatherTimeout <= 0 {
		c.GatherTimeout = 2 * time.Second
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 1000
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 24 * time.Hour
	}
	if c.MaxLoginFailuresPerAddress <= 0 {
		c.MaxLoginFailuresPerAddress = 5
	}
	if c.MaxLoginFailures <= 0 {
		c.MaxLoginFailures = 100
	}
	if c.LoginWindow <= 0 {
		c.LoginWindow = time.Minute
	}
	if c.LoginConcurrency <= 0 {
		c.LoginConcurrency = 1
	}
	if c.LoginWait <= 0 {
		c.LoginWait = 2 * time.Second
	}
	if c.MaxLoginFailuresPerConn <= 0 {
		c.MaxLoginFailuresPerConn = 3
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Admin is the admin UI's server side on one node. Close stops it.
type Admin struct {
	srv      *socketio.Server
	bus      *bus.Bus
	cfg      AdminConfig
	ns       *socketio.Namespace
	feed     adminFeed
	host     string
	started  time.Time
	features []string
	warn     *ratelog.Logger
	login    *loginGuard
	sub      *bus.Subscription // bus.AdminSocketsSubject
	here     *bus.Subscription // bus.AdminPresenceSubject
	// unobserve stops the socketio.Observer the admin UI watches with.
	unobserve func()

	smu      sync.Mutex
	sessions map[string]time.Time // login session id → expiry
	fresh    map[string]string    // admin socket id → session id to send it

	stop   chan struct{}
	wmu    sync.Mutex // guards closed and wg.Add against Close's Wait
	closed bool
	wg     sync.WaitGroup
}

// NewAdmin serves the admin UI's protocol on srv's admin namespace and
// observes every socket of srv. Call it once per server, before clients
// connect; Close before closing b.
func NewAdmin(srv *socketio.Server, b *bus.Bus, cfg AdminConfig) (*Admin, error) {
	cfg = cfg.withDefaults()
	if (cfg.User == "") != (cfg.PasswordHash == "") {
		return nil, errors.New("admin UI: set both the user and the password hash, or neither")
	}
	if cfg.PasswordHash != "" {
		if _, err := bcrypt.Cost([]byte(cfg.PasswordHash)); err != nil {
			return nil, fmt.Errorf("admin UI: the password hash must be a bcrypt hash: %w", err)
		}
	}
	host, _ := os.Hostname()
	if _, err := bus.EncodeToken(strings.TrimPrefix(cfg.Namespace, "/")); err != nil {
		return nil, fmt.Errorf("admin UI: bad namespace %q: %w", cfg.Namespace, err)
	}
	a := &Admin{
		srv: srv, bus: b, cfg: cfg, ns: srv.OfLocal(cfg.Namespace),
		host: host, started: time.Now(),
		warn:     ratelog.New(cfg.Logger, 0),
		login:    newLoginGuard(cfg),
		sessions: map[string]time.Time{}, fresh: map[string]string{},
		stop: make(chan struct{}),
	}
	if cfg.ServerID == "" {
		a.cfg.ServerID = host + "#" + b.NodeID()
	}
	if !cfg.ReadOnly {
		a.features = []string{featEmit, featJoin, featLeave, featDisconnect, featMJoin, featMLeave, featMDisconnect}
	}
	if cfg.User == "" {
		cfg.Logger.Warn("admin UI without authentication: anyone who reaches the server can use it; set --admin-user and --admin-password-hash",
			"namespace", cfg.Namespace)
	} else {
		a.ns.Use(a.authenticate)
	}
	a.ns.OnConnection(a.onAdminSocket)
	sub, err := b.Subscribe(bus.AdminSocketsSubject, a.answerSockets)
	if err != nil {
		return nil, fmt.Errorf("failed to start the admin UI: %w", err)
	}
	a.sub = sub
	here, err := b.SubscribePresence(bus.AdminPresenceSubject)
	if err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("failed to start the admin UI: %w", err)
	}
	a.here = here
	a.unobserve = srv.Observe(socketio.Observer{
		Connected:    a.onConnected,
		Disconnected: a.onDisconnected,
		Joined:       func(s *socketio.Socket, room string) { a.onRoom("room_joined", s, room) },
		Left:         func(s *socketio.Socket, room string) { a.onRoom("room_left", s, room) },
		Upgraded:     a.onUpgraded,
	})
	a.wg.Add(1)
	go a.statsLoop()
	return a, nil
}

// Close stops the stats and the answers to other nodes; admin sockets are
// closed with the server.
func (a *Admin) Close() {
	a.wmu.Lock()
	if a.closed {
		a.wmu.Unlock()
		return
	}
	a.closed = true
	a.wmu.Unlock()
	close(a.stop)
	a.unobserve()
	a.unwatch(true)
	_ = a.here.Unsubscribe()
	_ = a.sub.Unsubscribe()
	a.wg.Wait()
}

// authenticate admits a known session id, or the configured user with the
// password its hash was made from, as the UI's basic auth. Password checks
// are bounded by a.login.
func (a *Admin) authenticate(s *socketio.Socket) error {
	var auth struct {
		Username  string `json:"username"`
		Password  string `json:"password"`
		SessionID string `json:"sessionId"`
	}
	_ = json.Unmarshal(s.Handshake().Auth, &auth)
	now := time.Now()
	if auth.SessionID != "" {
		a.smu.Lock()
		exp, ok := a.sessions[auth.SessionID]
		a.smu.Unlock()
		if ok && now.Before(exp) {
			return nil
		}
	}
	addr := s.Handshake().Address
	if err := a.checkPassword(addr, s.ClientID(), auth.Username, auth.Password); err != nil {
		return err
	}
	id := randid.Hex(8)
	a.smu.Lock()
	a.saveSessionLocked(id, now)
	a.fresh[s.ID()] = id
	a.smu.Unlock()
	return nil
}

// checkPassword runs one bcrypt comparison if the login limits allow it.
func (a *Admin) checkPassword(addr, conn, user, password string) error {
	m := a.cfg.Metrics
	// Checked again once a slot is ours: many logins may wait at once.
	admitted := a.login.admit(addr, conn)
	if admitted {
		if !a.login.acquire() {
			m.AdminLoginDone(metrics.AdminLoginBusy)
			a.warn.Warn("admin UI login refused: password checks busy", "address", addr)
			return errLoginBusy
		}
		defer a.login.release()
		admitted = a.login.admit(addr, conn)
	}
	if !admitted {
		m.AdminLoginDone(metrics.AdminLoginLimited)
		a.warn.Warn("admin UI login refused: too many failed logins", "address", addr)
		return errLoginLimited
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(a.cfg.User)) == 1
	// Always pay for bcrypt, so a wrong user takes as long as a wrong password.
	passOK := bcrypt.CompareHashAndPassword([]byte(a.cfg.PasswordHash), []byte(password)) == nil
	if userOK && passOK {
		m.AdminLoginDone(metrics.AdminLoginOK)
		return nil
	}
	m.AdminLoginDone(metrics.AdminLoginFailed)
	a.warn.Warn("admin UI login refused", "address", addr)
	if a.login.fail(addr, conn) {
		return &wsedge.ConnectError{Message: errInvalidCredentials.Message, Status: errInvalidCredentials.Status, Close: true}
	}
	return errInvalidCredentials
}

// saveSessionLocked keeps a login session, dropping expired ones and, past
// MaxSessions, the one closest to expiry.
func (a *Admin) saveSessionLocked(id string, now time.Time) {
	for k, exp := range a.sessions {
		if !now.Before(exp) {
			delete(a.sessions, k)
		}
	}
	for len(a.sessions) >= a.cfg.MaxSessions {
		var oldest string
		var at time.Time
		for k, exp := range a.sessions {
			if oldest == "" || exp.Before(at) {
				oldest, at = k, exp
			}
		}
		delete(a.sessions, oldest)
	}
	a.sessions[id] = now.Add(a.cfg.SessionTTL)
}

// onAdminSocket greets an admin socket (its session id, the features, every
// socket of the cluster) and takes its operations.
func (a *Admin) onAdminSocket(s *socketio.Socket) {
	to := a.ns.Volatile().To(s.ID())
	a.smu.Lock()
	sid, ok := a.fresh[s.ID()]
	delete(a.fresh, s.ID())
	a.smu.Unlock()
	if ok {
		a.send(to, "session", sid)
	}
	a.send(to, "config", map[string]any{"supportedFeatures": append([]string{}, a.features...)})
	a.watch()
	if !a.cfg.ReadOnly {
		s.On("emit", a.opEmit)
		s.On("join", func(e *socketio.Event) { a.opRooms(e, true) })
		s.On("leave", func(e *socketio.Event) { a.opRooms(e, false) })
		s.On("_disconnect", a.opDisconnect)
	}
	a.wmu.Lock()
	defer a.wmu.Unlock()
	if a.closed {
		return
	}
	a.wg.Add(1)
	go func() { // gathering waits on other nodes: not on the connection's goroutine
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.GatherTimeout)
		defer cancel()
		all, err := a.AllSockets(ctx)
		if err != nil {
			a.warn.Warn("admin UI: not every node listed its sockets", "err", err)
		}
		if s.Connected() {
			a.send(to, "all_sockets", all)
		}
	}()
}

func (a *Admin) send(to socketio.Operator, event string, args ...any) {
	if err := to.Emit(event, args...); err != nil {
		a.warn.Warn("admin UI: failed to send", "event", event, "err", err)
	}
}

func (a *Admin) onConnected(s *socketio.Socket) {
	if a.watched() {
		a.broadcast("socket_connected", serializeSocket(s), time.Now().UTC())
	}
}

func (a *Admin) onDisconnected(s *socketio.Socket, reason string) {
	if s.Namespace() == a.ns {
		a.unwatch(false)
	}
	if a.watched() {
		a.broadcast("socket_disconnected", s.Namespace().Name(), s.ID(), reason, time.Now().UTC())
	}
}

// onUpgraded updates the socket's transport, as socket.io's socket_updated.
func (a *Admin) onUpgraded(s *socketio.Socket) {
	if a.watched() {
		a.broadcast("socket_updated", map[string]string{
			"id": s.ID(), "nsp": s.Namespace().Name(), "transport": s.Transport(),
		})
	}
}

func (a *Admin) onRoom(event string, s *socketio.Socket, room string) {
	if a.watched() {
		a.broadcast(event, s.Namespace().Name(), room, s.ID(), time.Now().UTC())
	}
}

// answerSockets answers another node's (or this one's) all_sockets
// gathering with this node's sockets.
func (a *Admin) answerSockets(m *bus.Msg) {
	if m.Reply == "" {
		return
	}
	local := a.srv.LocalSockets()
	list := make([]SerializedSocket, 0, len(local))
	for _, s := range local {
		list = append(list, serializeSocket(s))
	}
	data, err := json.Marshal(list)
	if err != nil {
		a.warn.Warn("admin UI: failed to encode sockets", "err", err)
		return
	}
	_ = a.bus.PublishLive(&bus.Msg{Subject: m.Reply, Data: data})
}

// AllSockets lists the sockets of every node with the admin UI on. When ctx
// ends first, it returns what came with an error.
func (a *Admin) AllSockets(ctx context.Context) ([]SerializedSocket, error) {
	inbox, err := a.bus.SubscribeSync(bus.NewInbox())
	if err != nil {
		return nil, fmt.Errorf("failed to list sockets: %w", err)
	}
	defer func() { _ = inbox.Unsubscribe() }()
	nodes := a.bus.Interest(bus.AdminPresenceSubject)
	if err := a.bus.PublishLive(&bus.Msg{Subject: bus.AdminSocketsSubject, Reply: inbox.Subject()}); err != nil {
		return nil, fmt.Errorf("failed to list sockets: %w", err)
	}
	out := []SerializedSocket{}
	for i := 0; i < nodes; i++ {
		m, err := inbox.Next(ctx)
		if err != nil {
			return out, fmt.Errorf("failed to list sockets: %d of %d nodes answered: %w", i, nodes, err)
		}
		var some []SerializedSocket
		if err := json.Unmarshal(m.Data, &some); err != nil {
			return out, fmt.Errorf("failed to list sockets: a node answered %q: %w", m.Data, err)
		}
		out = append(out, some...)
	}
	return out, nil
}

// ServerStats is what each node sends every StatsInterval
// (typed-events.d.ts, ServerStats).
type ServerStats struct {
	ServerID            string           `json:"serverId"`
	Hostname            string           `json:"hostname"`
	PID                 int              `json:"pid"`
	Uptime              float64          `json:"uptime"` // seconds
	ClientsCount        int              `json:"clientsCount"`
	PollingClientsCount int              `json:"pollingClientsCount"`
	AggregatedEvents    []any            `json:"aggregatedEvents"` // none: the AGGREGATED_EVENTS feature is not offered
	Namespaces          []NamespaceStats `json:"namespaces"`
}

// NamespaceStats counts a namespace's sockets on one node.
type NamespaceStats struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

// Stats is this node's server_stats: its connections (those with at least
// one socket) and its sockets per namespace.
func (a *Admin) Stats() ServerStats {
	st := ServerStats{
		ServerID: a.cfg.ServerID, Hostname: a.host, PID: os.Getpid(),
		Uptime:           time.Since(a.started).Seconds(),
		AggregatedEvents: []any{}, Namespaces: []NamespaceStats{},
	}
	clients := map[string]bool{} // client id → polling
	perNs := map[string]int{}
	for _, s := range a.srv.LocalSockets() {
		clients[s.ClientID()] = s.Transport() == "polling"
		perNs[s.Namespace().Name()]++
	}
	st.ClientsCount = len(clients)
	for _, polling := range clients {
		if polling {
			st.PollingClientsCount++
		}
	}
	for name, n := range perNs {
		st.Namespaces = append(st.Namespaces, NamespaceStats{Name: name, SocketsCount: n})
	}
	sort.Slice(st.Namespaces, func(i, j int) bool { return st.Namespaces[i].Name < st.Namespaces[j].Name })
	return st
}

func (a *Admin) statsLoop() {
	defer a.wg.Done()
	t := time.NewTicker(a.cfg.StatsInterval)
	defer t.Stop()
	for {
		if a.watched() {
			a.broadcast("server_stats", a.Stats())
		}
		select {
		case <-a.stop:
			return
		case <-t.C:
		}
	}
}
