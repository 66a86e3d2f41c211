// Package httpapi is sockbus's HTTP server API, for backends without a NATS
// client: under /api/v1/, with a bearer key on every request, JSON in and
// out. It emits to Socket.IO namespaces and publishes to plain WebSocket
// channels (answering with the stored event's offset), runs the
// cluster-wide socket operations (join, leave, disconnect, fetch), reads
// a namespace's or channel's history by page, and answers who is present.
//
// Start reading at server.go (Config, New, Server.ServeHTTP: the key, the
// per-key rate limit, the body bound, the answer and its metrics), then
// emit.go (emit, publish, the Idempotency-Key), sockets.go (join, leave,
// disconnect, sockets), history.go (pages of stored events) and presence.go. It uses
// the products' Go APIs (socketio.Operator, bus, replay) only: everything it
// does, a NATS backend can do too (docs/backends.md); docs/http-api.md is
// the reference.
package httpapi
