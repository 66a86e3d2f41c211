// Package engine is an Engine.IO v4 server, the transport under Socket.IO:
// sessions over HTTP long-polling and WebSocket (gws), the upgrade from one
// to the other, the heartbeat, CORS and engine.io's HTTP errors. It is
// compatible with the official engine.io-client and socket.io-client.
//
// Start with [NewServer]: mount the [Server] at a path prefix and handle
// each [Session] in the onSession callback, where [Session.OnMessage] and
// [Session.OnClose] are set. Send with [Session.Send], which takes frames
// built once with outq.NewFrame and shared by any number of sessions; it
// never blocks, and a client that lets its bounded queue overflow is closed
// with [ReasonSlowConsumer]. End with [Server.Close].
//
// Received messages reach OnMessage in order, never concurrently for one
// session, on a goroutine the server owns: over WebSocket usually the one
// that decoded the message, while the read loop waits for it (the loop
// itself only reads, so an idle connection keeps a 2 KiB stack), otherwise
// one started while messages wait. OnClose follows the last one.
//
// Wire behaviour follows the reference server (socket.io's
// packages/engine.io) where the protocol leaves a choice, with these
// differences: a POST that is too large (413) or undecodable (400) also
// closes the session; a close packet over WebSocket closes the session at
// once; a WebSocket ping is answered; a handshake after Close gets 503; during
// an upgrade an empty poll gets noop at once rather than at engine.io's next
// 100 ms check (polling stays writable until the upgrade packet, as there). Where
// Go's parallel request handling could reorder what a single-threaded Node
// server sees in order, the server compensates: a poll arriving just after
// the client's close POST gets noop, and a request arriving after the pong deadline finds the
// session closed even if the timeout timer has not run yet.
package engine
