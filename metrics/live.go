package metrics

// Live is what is open right now, counted by the edges at scrape time
// (socketio.Server.Live, channels.Server.Live) rather than on the hot path.
type Live struct {
	// Connections by transport: Engine.IO sessions on "polling" or
	// "websocket"; plain WebSocket channel connections count under
	// KindWebSocket.
	SocketIOPolling, SocketIOWebSocket int
	WebSocketConns                     int
	// Sockets are Socket.IO namespace memberships, by their connection's
	// transport.
	SocketsPolling, SocketsWebSocket int
	Namespaces, Rooms, Channels      int
}

// Add sums two partial counts (one from each edge).
func (l Live) Add(o Live) Live {
	l.SocketIOPolling += o.SocketIOPolling
	l.SocketIOWebSocket += o.SocketIOWebSocket
	l.WebSocketConns += o.WebSocketConns
	l.SocketsPolling += o.SocketsPolling
	l.SocketsWebSocket += o.SocketsWebSocket
	l.Namespaces += o.Namespaces
	l.Rooms += o.Rooms
	l.Channels += o.Channels
	return l
}
