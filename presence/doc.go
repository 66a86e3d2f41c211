// Package presence keeps who is in which Socket.IO room (and plain
// WebSocket channel) where every node reads it: a JetStream key-value
// bucket (Bucket) with one key per member and one heartbeat key per node.
//
// A member's key names its namespace, room and socket id; its value names
// the node holding the socket and the socket's user. Every node follows
// the whole bucket with a watch (mirror.go), so answers are read from
// memory, without a round trip and while the bucket elects a leader.
//
// Liveness does not depend on the bucket: every node publishes a live
// beat a few times per Config.TTL (nodes.go), and a node not heard from
// for the TTL is dead. Its members leave every answer at once, and one
// node, the live one with the smallest name (the next one if it dies
// too), announces them as left and removes their keys, retrying until the
// bucket takes the removals (sweep.go). The heartbeat key (heartbeat.go)
// tells a starting node which nodes are alive, and tells a node the
// others took for dead that it must store its members again.
//
// Start reading at Open (registry.go); Query answers "who is here".
package presence
