// Package wsedge is sockbus's edge: it accepts WebSocket (gws) and HTTP
// long-polling clients and connects them to the bus.
//
// [Channels] serves plain WebSocket channels (/ws and /ws/{channel}): every
// frame a client sends is published on the channel's subject and every
// message on that subject goes to every connection of the channel. One bus
// subscription per channel per node feeds a local fan-out; each broadcast is
// framed once and queued by pointer on each connection's bounded queue.
//
// [Server] speaks Socket.IO v5 over the engine package: namespaces, rooms,
// acks, recovery and history, with one bus subscription per namespace per
// node. Operations on sockets wherever they are connected (broadcasts with
// acks, SocketsJoin/Leave, DisconnectSockets, FetchSockets) are messages on
// the same bus, so they work across a cluster and from any NATS client.
//
// Start reading at channels.go for plain WebSocket and server.go for
// Socket.IO (broadcastack.go and remote.go for the cluster-wide operations);
// close.go lists the close codes and what they mean.
package wsedge
