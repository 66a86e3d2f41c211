package gwsrelay

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// Config configures a Server. The zero value works.
type Config struct {
	// PingInterval is the Engine.IO heartbeat. Default 25s.
	PingInterval time.Duration
	// PingTimeout is advertised in the open packet; a client that has not
	// answered a ping by the next one is closed. Default 20s.
	PingTimeout time.Duration
	// ReadBufferSize is gws's per-connection read buffer. Default gws's (4 KiB).
	ReadBufferSize int
}

// Server is an http.Handler for /socket.io/, /ws[/{channel}] and /healthz.
// All methods are safe for concurrent use.
type Server struct {
	cfg     Config
	sioUp   *gws.Upgrader
	plainUp *gws.Upgrader
	nextID  atomic.Uint64
	idTag   string

	mu     sync.Mutex
	groups map[string]*group // "n" + namespace or "c" + channel
	conns  map[*conn]struct{}
	closed bool

	wg   sync.WaitGroup
	stop chan struct{}
}

// group is a namespace's or channel's members.
type group struct {
	mu      sync.RWMutex
	members map[*conn]struct{}
}

// conn is one client connection.
type conn struct {
	ws      *gws.Conn
	plain   *group // plain WebSocket: its channel
	mu      sync.Mutex
	nss     map[string]*group // Socket.IO: joined namespaces by name
	waiting atomic.Bool       // a ping is unanswered
}

// New returns a server and starts its heartbeat.
func New(cfg Config) *Server {
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 25 * time.Second
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = 20 * time.Second
	}
	var tag [6]byte
	_, _ = rand.Read(tag[:])
	s := &Server{cfg: cfg, groups: map[string]*group{}, conns: map[*conn]struct{}{},
		stop: make(chan struct{}), idTag: base64.RawURLEncoding.EncodeToString(tag[:])}
	opt := func() *gws.ServerOption {
		return &gws.ServerOption{
			ReadBufferSize:     cfg.ReadBufferSize,
			ReadMaxPayloadSize: 1 << 20,
			ParallelEnabled:    false,
			NewSession:         func() gws.SessionStorage { return &slot{} },
		}
	}
	s.sioUp = gws.NewUpgrader(sioEvents{s}, opt())
	s.plainUp = gws.NewUpgrader(plainEvents{s}, opt())
	s.wg.Add(1)
	go s.heartbeat()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	switch {
	case p == "/healthz":
		_, _ = w.Write([]byte("ok\n"))
	case strings.HasPrefix(p, "/socket.io/"):
		q := r.URL.Query()
		if q.Get("EIO") != "4" || q.Get("transport") != "websocket" {
			http.Error(w, `{"code":3,"message":"Bad request"}`, http.StatusBadRequest)
			return
		}
		s.serveSocketIO(w, r)
	case p == "/ws" || strings.HasPrefix(p, "/ws/"):
		name, err := url.PathUnescape(strings.TrimPrefix(strings.TrimPrefix(p, "/ws"), "/"))
		if err != nil {
			http.Error(w, "bad channel", http.StatusBadRequest)
			return
		}
		if name == "" {
			name = "default"
		}
		s.servePlain(w, r, name)
	default:
		http.NotFound(w, r)
	}
}

// add registers c; false once the server is closing.
func (s *Server) add(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) group(key string) *group {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[key]
	if g == nil {
		g = &group{members: map[*conn]struct{}{}}
		s.groups[key] = g
	}
	return g
}

func (g *group) join(c *conn) {
	g.mu.Lock()
	g.members[c] = struct{}{}
	g.mu.Unlock()
}

func (g *group) leave(c *conn) {
	g.mu.Lock()
	delete(g.members, c)
	g.mu.Unlock()
}

// broadcast encodes payload once and queues it on every member but skip.
func (g *group) broadcast(op gws.Opcode, payload []byte, skip *conn) {
	b := gws.NewBroadcaster(op, payload)
	g.mu.RLock()
	for m := range g.members {
		if m != skip {
			_ = b.Broadcast(m.ws)
		}
	}
	g.mu.RUnlock()
	_ = b.Close()
}

func (s *Server) run(c *conn) {
	defer s.wg.Done()
	c.ws.ReadLoop()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if c.plain != nil {
		c.plain.leave(c)
	}
	c.mu.Lock()
	for _, g := range c.nss {
		g.leave(c)
	}
	c.nss = nil
	c.mu.Unlock()
}

func (s *Server) serveSocketIO(w http.ResponseWriter, r *http.Request) {
	ws, err := s.sioUp.Upgrade(w, r)
	if err != nil {
		return
	}
	c := &conn{ws: ws, nss: map[string]*group{}}
	ws.Session().(*slot).c = c
	open := `0{"sid":"` + s.newID() + `","upgrades":[],"pingInterval":` +
		strconv.FormatInt(s.cfg.PingInterval.Milliseconds(), 10) + `,"pingTimeout":` +
		strconv.FormatInt(s.cfg.PingTimeout.Milliseconds(), 10) + `,"maxPayload":1000000}`
	if err := ws.WriteString(open); err != nil || !s.add(c) {
		_ = ws.NetConn().Close()
		ws.ReadLoop() // returns at once; releases gws's buffers
		return
	}
	go s.run(c)
}

func (s *Server) servePlain(w http.ResponseWriter, r *http.Request, channel string) {
	ws, err := s.plainUp.Upgrade(w, r)
	if err != nil {
		return
	}
	c := &conn{ws: ws, plain: s.group("c" + channel)}
	ws.Session().(*slot).c = c
	if !s.add(c) {
		_ = ws.NetConn().Close()
		ws.ReadLoop()
		return
	}
	c.plain.join(c)
	go s.run(c)
}

// newID returns a socket or session id, unique in this process.
func (s *Server) newID() string {
	return s.idTag + strconv.FormatUint(s.nextID.Add(1), 36)
}

// heartbeat pings every Socket.IO connection each interval and cuts those
// that did not answer the previous ping.
func (s *Server) heartbeat() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	ping := []byte{'2'}
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		conns := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			if c.plain == nil {
				conns = append(conns, c)
			}
		}
		s.mu.Unlock()
		for _, c := range conns {
			if c.waiting.Swap(true) {
				_ = c.ws.NetConn().Close()
				continue
			}
			c.ws.WriteAsync(gws.OpcodeText, ping, nil)
		}
	}
}

// Close cuts every connection and waits for their read loops and the
// heartbeat. It does not stop the http.Server serving s.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.stop)
	for c := range s.conns {
		_ = c.ws.NetConn().Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// onSocketIO handles one Engine.IO message of c.
func (s *Server) onSocketIO(c *conn, b []byte) {
	if len(b) == 0 {
		return
	}
	switch b[0] {
	case '3': // pong
		c.waiting.Store(false)
		return
	case '1': // close
		_ = c.ws.NetConn().Close()
		return
	case '4':
	default:
		return
	}
	b = b[1:]
	if len(b) == 0 {
		return
	}
	typ, rest := b[0], b[1:]
	ns := "/"
	if len(rest) > 0 && rest[0] == '/' {
		i := bytes.IndexByte(rest, ',')
		if i < 0 {
			i = len(rest)
			ns, rest = string(rest), nil
		} else {
			ns, rest = string(rest[:i]), rest[i+1:]
		}
	}
	prefix := ""
	if ns != "/" {
		prefix = ns + ","
	}
	switch typ {
	case '0': // CONNECT
		g := s.group("n" + ns)
		c.mu.Lock()
		_, dup := c.nss[ns]
		if !dup {
			c.nss[ns] = g
		}
		c.mu.Unlock()
		if dup {
			_ = c.ws.NetConn().Close()
			return
		}
		g.join(c)
		c.ws.WriteAsync(gws.OpcodeText, []byte(`40`+prefix+`{"sid":"`+s.newID()+`"}`), nil)
	case '1': // DISCONNECT
		c.mu.Lock()
		g := c.nss[ns]
		delete(c.nss, ns)
		c.mu.Unlock()
		if g != nil {
			g.leave(c)
		}
	case '2': // EVENT
		c.mu.Lock()
		g := c.nss[ns]
		c.mu.Unlock()
		if g == nil {
			_ = c.ws.NetConn().Close()
			return
		}
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		ack, args := rest[:i], rest[i:]
		if len(args) == 0 || args[0] != '[' {
			_ = c.ws.NetConn().Close()
			return
		}
		out := make([]byte, 0, 2+len(prefix)+len(args))
		out = append(append(append(out, '4', '2'), prefix...), args...)
		g.broadcast(gws.OpcodeText, out, c)
		if len(ack) > 0 {
			reply := make([]byte, 0, 4+len(prefix)+len(ack))
			reply = append(append(append(append(reply, '4', '3'), prefix...), ack...), '[', ']')
			c.ws.WriteAsync(gws.OpcodeText, reply, nil)
		}
	}
}

type sioEvents struct{ s *Server }

func (sioEvents) OnOpen(*gws.Conn)              {}
func (sioEvents) OnClose(*gws.Conn, error)      {}
func (sioEvents) OnPing(ws *gws.Conn, p []byte) { _ = ws.WritePong(p) }
func (sioEvents) OnPong(*gws.Conn, []byte)      {}
func (e sioEvents) OnMessage(ws *gws.Conn, m *gws.Message) {
	defer m.Close()
	if c := slotOf(ws); c != nil && m.Opcode == gws.OpcodeText {
		e.s.onSocketIO(c, m.Bytes())
	}
}

type plainEvents struct{ s *Server }

func (plainEvents) OnOpen(*gws.Conn)              {}
func (plainEvents) OnClose(*gws.Conn, error)      {}
func (plainEvents) OnPing(ws *gws.Conn, p []byte) { _ = ws.WritePong(p) }
func (plainEvents) OnPong(*gws.Conn, []byte)      {}
func (plainEvents) OnMessage(ws *gws.Conn, m *gws.Message) {
	defer m.Close()
	if c := slotOf(ws); c != nil {
		payload := append([]byte(nil), m.Bytes()...)
		c.plain.broadcast(m.Opcode, payload, nil)
	}
}

func slotOf(ws *gws.Conn) *conn {
	if s, ok := ws.Session().(*slot); ok {
		return s.c
	}
	return nil
}

// slot is the connections' gws.SessionStorage: it only leads to the conn.
type slot struct{ c *conn }

func (*slot) Len() int                     { return 0 }
func (*slot) Load(string) (any, bool)      { return nil, false }
func (*slot) Delete(string)                {}
func (*slot) Store(string, any)            {}
func (*slot) Range(func(string, any) bool) {}
