// Package bus runs sockbus's event bus: an embedded nats-server with
// JetStream on disk, one in-process client connection to it, and the subject
// scheme every other package uses.
//
// Start it with [Start] and stop it with [Bus.Close]. Client-chosen names
// become subject tokens through [EncodeToken], which no name can use to
// inject '.', '*', '>' or whitespace. Streams for channels and namespaces are
// fixed at Start by the layout ([LayoutConfig], [Bus.Log]); JetStream republishes every
// stored message under the "sockbus.live." prefix with its sequence, which is
// what nodes subscribe to for live delivery.
//
// No NATS type leaves bus (package replay, which reads JetStream, takes its
// handles from ReadConn and JetStream): the node publishes and subscribes
// with [Msg], [Header] and [Subscription], waits for answers through one
// reply multiplexer ([Bus.Request], [Bus.AwaitReply], and the store
// acknowledgements of [Bus.PublishStored]), and tunnels requests to other
// nodes with [Bus.ListenTunnel] and [Bus.DialTunnel] (package bus/tunnel).
package bus
