package socketio

// Observer hears of every socket's life on this node, whatever its
// namespace: for tools that watch the whole server (handlers' admin UI).
// Each callback is optional; they run on the socket's connection goroutine
// (Joined and Left on whoever called Join or Leave; Upgraded on its own)
// and must not block.
type Observer struct {
	// Connected: a socket joined its namespace (after its client was told).
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
}

// Observe sets the server's observer, replacing any earlier one. Without one,
// each hook costs an atomic load.
func (s *Server) Observe(o Observer) { s.observer.Store(&o) }

func (s *Server) observed() *Observer { return s.observer.Load() }

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
