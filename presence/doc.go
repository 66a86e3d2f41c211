// Package presence keeps who is in which Socket.IO room (and plain
// WebSocket channel) where every node reads it: a JetStream key-value
// bucket (Bucket) with one key per member and one heartbeat key per node.
//
// A member's key names its namespace, room and socket id; its value names
// the node holding the socket and the socket's user. A node refreshes its
// own heartbeat key, one write per tick whatever its number of sockets;
// the key carries a per-message TTL (Config.TTL), so a node that crashes
// stops being refreshed and its key expires. Every node watches the
// heartbeat keys: members of a node whose key is gone are left out of
// answers at once, and the survivors remove them (each key removed by
// exactly one node, a conditional purge) and announce them as left.
//
// Start reading at Open (registry.go); Query answers "who is here".
package presence
