// Package eioclient is the load generator's client: one gws connection
// speaking just enough Engine.IO v4 / Socket.IO v5 over WebSocket (open
// packet, ping/pong, namespace CONNECT, events, acks), or a plain
// WebSocket for /ws/{channel}.
//
// A Client costs one goroutine (gws's read loop) and a small read buffer,
// so a process can hold 10,000 of them. Callbacks run on that goroutine, in
// arrival order, and must not block.
package eioclient
