// Package socketio is sockbus's Socket.IO v5 server, over the Engine.IO
// transport in package engine: namespaces, rooms, acks, connection-state
// recovery and history, with one bus subscription per namespace per node.
// Operations on sockets wherever they are connected (broadcasts with acks,
// SocketsJoin/Leave, DisconnectSockets, FetchSockets) are messages on the
// same bus, so they work across a cluster and from any NATS client.
//
// Start reading at server.go ([NewServer], [Server.Of]) and socket.go
// ([Socket], [Event]); conn.go is one client connection and its CONNECTs;
// emit.go builds and delivers events; broadcastack.go and remote.go are the
// cluster-wide operations; recovery.go is connection-state recovery.
package socketio
