// Package eioclient is the load generator's client: one gws connection
// speaking just enough Engine.IO v4 / Socket.IO v5 over WebSocket (open
// packet, ping/pong, namespace CONNECT, events, acks), or a plain
// WebSocket for /ws/{channel}.
//
// A Client costs one goroutine (gws's read loop) and a small read buffer,
// so a process can hold 10,000 of them. Callbacks run on that goroutine, in
// arrival order, and must not block.
//
// Start reading at client.go ([Dial], [Client]); packet.go builds and
// parses the few Engine.IO and Socket.IO packets it needs.
package eioclient
