// Package socketio is sockbus's Socket.IO v5 server, over the Engine.IO
// transport in package engine: namespaces, rooms, acks, connection-state
// recovery and history, with one bus subscription per namespace per node.
// Operations on sockets wherever they are connected (broadcasts with acks,
// SocketsJoin/Leave, DisconnectSockets, FetchSockets) are messages on the
// same bus, so they work across a cluster and from any NATS client.
//
// Start reading at server.go ([NewServer], [Server.Of]), then socket.go
// ([Socket]) and namespace.go ([Namespace]: its sockets, rooms and
// subscription). The files follow the flows:
//
//   - inbound: conn.go (one Engine.IO session: decode, dispatch, close),
//     connect.go (a CONNECT step by step), limits.go, event.go (a client's
//     [Event] and its ack), acks.go (the server asking a client, with a
//     timeout), recovery.go (plans, replays and the session store);
//   - delivery: deliver.go (a bus message to frames built once, fanned out,
//     held during a replay), address.go (which sockets a message reaches);
//   - operators: operator.go ([Operator]: To/Except/Volatile/Emit),
//     broadcastack.go (broadcasts with acks), remote.go (SocketsJoin/Leave,
//     DisconnectSockets, FetchSockets),
//     observe.go (the admin UI's view), forward.go (polling requests
//     forwarded to the node that owns the session), local.go (node-local
//     namespaces).
//
// What both products share (the Authorizer, close codes, history, limits)
// is package wsedge.
package socketio
