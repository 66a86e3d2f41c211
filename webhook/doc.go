// Package webhook POSTs what happens on the Socket.IO server (sockets
// connecting, disconnecting, joining and leaving rooms, clients' events)
// and on plain WebSocket channels (connections opening and closing, their
// messages) to HTTP receivers, at least once, signed with a shared secret.
//
// Start at Publisher (publish.go): a socketio.Observer (and a
// channels.Observer) that stores each event in the bus's webhook stream on the node where it happened, and only
// when webhooks are configured. Then Deliverer (deliver.go): on every node,
// one loop per receiver and partition takes events from the receiver's
// durable queue (bus.WebhookQueue, shared by the cluster's nodes, so each
// event is delivered by one of them), POSTs each until the receiver answers
// 2xx, retrying with backoff, and acks it. A partition hands out one event
// at a time, so a socket's events (one partition, by its id) arrive in
// order. Events are the JSON of Payload plus "id", the stream's epoch and
// sequence, which stays the same across retries and nodes: receivers
// dedupe by it. docs/webhooks.md is the receiver's side.
package webhook
