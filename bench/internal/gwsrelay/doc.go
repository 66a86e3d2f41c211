// Package gwsrelay is the benchmarks' floor: a bare gws server speaking the
// minimal Engine.IO v4 / Socket.IO v5 subset the load generator uses
// (WebSocket transport only: open packet, heartbeat, namespace CONNECT,
// events broadcast to the other sockets of the namespace, acks answered at
// once) and plain WebSocket channels on /ws/{channel} (every message to
// every member, the sender included). Nothing is stored: it measures what
// sockbus costs over a WebSocket library doing the same fan-out.
//
// Every frame is encoded once for all its receivers (gws.NewBroadcaster).
//
// Start reading at New (server.go, the only file).
package gwsrelay
