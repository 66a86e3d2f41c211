package channels

import (
	"sync"

	"github.com/sockbus/sockbus/metrics"
)

// Observer hears of every plain WebSocket connection's life on this node
// (the webhooks). Each callback is optional. A connection's calls come in
// order, one at a time: Connected first, Disconnected last, nothing after
// it. They run on the connection's goroutines and must not block.
type Observer struct {
	// Connected: a connection opened (after any history it asked for,
	// before its first frame is read).
	Connected func(c Conn)
	// Disconnected: it ended, for reason (a metrics reason label:
	// client_close, ping_timeout, shutdown, slow_consumer, ...).
	Disconnected func(c Conn, reason string)
	// Message: the client sent a frame that passed the limits and was
	// handed to the bus (not a token refresh). data must not be kept.
	Message func(c Conn, data []byte, binary bool)
}

// Conn names a connection to an Observer.
type Conn struct {
	ID, Channel string
	User        string // "" when unauthenticated
}

// Observe adds an observer; stop removes it. Without any, each hook
// costs an atomic load.
func (c *Server) Observe(o Observer) (stop func()) {
	p := &o
	c.omu.Lock()
	defer c.omu.Unlock()
	c.observers.Store(appendObserver(c.observers.Load(), p))
	return func() {
		c.omu.Lock()
		defer c.omu.Unlock()
		var rest []*Observer
		if cur := c.observers.Load(); cur != nil {
			for _, q := range *cur {
				if q != p {
					rest = append(rest, q)
				}
			}
		}
		if len(rest) == 0 {
			c.observers.Store(nil)
			return
		}
		c.observers.Store(&rest)
	}
}

func appendObserver(cur *[]*Observer, p *Observer) *[]*Observer {
	var out []*Observer
	if cur != nil {
		out = append(out, *cur...)
	}
	out = append(out, p)
	return &out
}

// observed is a connection's share of the observers: whether it was
// announced, and whether it is gone (then nothing more is said of it).
type observed struct {
	mu        sync.Mutex
	announced bool
	gone      bool
}

func (cc *channelConn) info() Conn { return Conn{ID: cc.id, Channel: cc.channel, User: cc.user} }

// announce tells the observers cc is open, unless it already ended.
func (c *Server) announce(cc *channelConn) {
	os := c.observers.Load()
	cc.obs.mu.Lock()
	defer cc.obs.mu.Unlock()
	if cc.obs.gone {
		return
	}
	cc.obs.announced = true
	if os == nil {
		return
	}
	for _, o := range *os {
		if o.Connected != nil {
			o.Connected(cc.info())
		}
	}
}

// observeMessage tells the observers of a frame cc sent.
func (c *Server) observeMessage(cc *channelConn, data []byte, binary bool) {
	os := c.observers.Load()
	if os == nil {
		return
	}
	cc.obs.mu.Lock()
	defer cc.obs.mu.Unlock()
	if !cc.obs.announced || cc.obs.gone {
		return
	}
	for _, o := range *os {
		if o.Message != nil {
			o.Message(cc.info(), data, binary)
		}
	}
}

// observeEnd tells the observers cc ended for r (once: ended's first).
func (c *Server) observeEnd(cc *channelConn, r metrics.Reason) {
	os := c.observers.Load()
	cc.obs.mu.Lock()
	defer cc.obs.mu.Unlock()
	announced := cc.obs.announced && !cc.obs.gone
	cc.obs.gone = true
	if !announced || os == nil {
		return
	}
	for _, o := range *os {
		if o.Disconnected != nil {
			o.Disconnected(cc.info(), r.String())
		}
	}
}
