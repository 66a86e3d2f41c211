package socketio

// Observer hears of every socket's life on this node, whatever its
// namespace: for tools that watch the whole server (handlers' admin UI,
// the webhooks). Each callback is optional; they run on the socket's
// connection goroutine (Joined and Left on whoever called Join or Leave;
// Upgraded on its own) and must not block.
type Observer struct {
	// Connected: a socket joined its namespace (just before its client is
	// told, so it comes before any other call about the socket).
	Connected func(s *Socket)
	// Disconnected: a socket left, for reason (one of the Reason constants).
	Disconnected func(s *Socket, reason string)
	// Joined and Left: a connected socket joined or left a room with
	// Socket.Join/Leave or an operation (SocketsJoin, SocketsLeave). Rooms
	// given at connect are in the socket's Rooms when Connected runs; the
	// rooms of a socket that disconnects are not reported as left.
	Joined func(s *Socket, room string)
	Left   func(s *Socket, room string)
	// Upgraded: the socket's connection moved from polling to WebSocket
	// (Transport says "websocket" from then on). It runs on a goroutine of
	// its own.
	Upgraded func(s *Socket)
	// Event: a client emitted an event that passed the limits, before the
	// socket's handlers run. e and its Args must not be kept.
	Event func(e *Event)
}

// Observe adds an observer to the server's; stop removes it. Without any,
// each hook costs an atomic load.
func (s *Server) Observe(o Observer) (stop func()) {
	p := &o
	s.omu.Lock()
	s.observers = append(s.observers, p)
	s.observer.Store(merge(s.observers))
	s.omu.Unlock()
	return func() {
		s.omu.Lock()
		defer s.omu.Unlock()
		for i, q := range s.observers {
			if q == p {
				s.observers = append(s.observers[:i:i], s.observers[i+1:]...)
				break
			}
		}
		s.observer.Store(merge(s.observers))
	}
}

// merge is one Observer calling each of os in turn; a callback none of
// them set stays nil, so its hook is skipped. nil for none.
func merge(os []*Observer) *Observer {
	switch len(os) {
	case 0:
		return nil
	case 1:
		return os[0]
	}
	os = append([]*Observer(nil), os...) // the closures keep this copy
	var m Observer
	for _, o := range os {
		if o.Connected != nil {
			m.Connected = func(s *Socket) { each(os, func(o *Observer) { call1(o.Connected, s) }) }
		}
		if o.Disconnected != nil {
			m.Disconnected = func(s *Socket, r string) {
				each(os, func(o *Observer) {
					if o.Disconnected != nil {
						o.Disconnected(s, r)
					}
				})
			}
		}
		if o.Joined != nil {
			m.Joined = func(s *Socket, r string) { each(os, func(o *Observer) { call2(o.Joined, s, r) }) }
		}
		if o.Left != nil {
			m.Left = func(s *Socket, r string) { each(os, func(o *Observer) { call2(o.Left, s, r) }) }
		}
		if o.Upgraded != nil {
			m.Upgraded = func(s *Socket) { each(os, func(o *Observer) { call1(o.Upgraded, s) }) }
		}
		if o.Event != nil {
			m.Event = func(e *Event) {
				each(os, func(o *Observer) {
					if o.Event != nil {
						o.Event(e)
					}
				})
			}
		}
	}
	return &m
}

func each(os []*Observer, f func(*Observer)) {
	for _, o := range os {
		f(o)
	}
}

func call1(f func(*Socket), s *Socket) {
	if f != nil {
		f(s)
	}
}

func call2(f func(*Socket, string), s *Socket, r string) {
	if f != nil {
		f(s, r)
	}
}

func (s *Server) observed() *Observer { return s.observer.Load() }

// announce tells the Observer the socket is connected; from then on its
// joins, leaves and disconnect are reported (observe).
func (s *Socket) announce() {
	s.omu.Lock()
	defer s.omu.Unlock()
	if s.gone.Load() {
		return
	}
	s.announced = true
	if o := s.ns.srv.observed(); o != nil && o.Connected != nil {
		o.Connected(s)
	}
}

// observe runs an Observer call about a connected socket, in order with
// the others; not before announce, not after the socket is gone.
func (s *Socket) observe(call func()) {
	s.omu.Lock()
	defer s.omu.Unlock()
	if s.announced && !s.gone.Load() {
		call()
	}
}

// LocalSockets returns the sockets connected to this node, every namespace.
func (s *Server) LocalSockets() []*Socket {
	var out []*Socket
	for _, n := range s.namespaces() {
		n.mu.RLock()
		for _, sock := range n.sockets {
			out = append(out, sock)
		}
		n.mu.RUnlock()
	}
	return out
}

// Transport is the transport the socket's connection uses now: "polling"
// or "websocket".
func (s *Socket) Transport() string { return s.conn.session.Transport() }

// ClientID is the id of the socket's Engine.IO connection, shared by the
// sockets it multiplexes (one per namespace).
func (s *Socket) ClientID() string { return s.conn.session.ID() }

// Data returns a copy of what Set stored (and the Authorizer's grant data).
func (s *Socket) Data() map[string]any {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	out := make(map[string]any, len(s.data))
	for k, v := range s.data {
		out[k] = v
	}
	return out
}
