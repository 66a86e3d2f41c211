// Package tunnel carries a byte stream between two nodes over NATS: a
// net.Conn that one node dials by subject and another accepts from a
// net.Listener. Engine.IO requests of a session owned by another node are
// forwarded through it, so the owner serves them with its ordinary HTTP and
// WebSocket code.
//
// Each side subscribes to an inbox of its own and publishes to the peer's:
// NATS keeps one publisher's messages in order, so the stream stays ordered.
// Flow control is by window: a writer has at most Window unacknowledged
// bytes in flight and the reader acknowledges what it has consumed, so a slow
// reader makes the writer block (and its write deadline fire) instead of
// growing a buffer; NATS never has to drop a message of a tunnel.
//
// A peer that disappears without a close message (its node died) is noticed
// by the protocols above (Engine.IO heartbeats, HTTP timeouts), which close
// the conn.
//
// Everything is in tunnel.go: start at [Listen] and [Dial].
package tunnel
