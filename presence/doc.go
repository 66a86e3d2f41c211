// Package presence keeps who is in which Socket.IO room (and plain
// WebSocket channel), cluster-wide, in the memory of every node.
//
// Each node owns the memberships of its own live sockets (owner.go): a
// join or leave is a map update and a share of a batched message. The
// changes of a few milliseconds go out as one delta on
// bus.PresenceDeltaSubject, numbered (an epoch per process start, a
// sequence per message); a node's beats, a few per Config.TTL, are deltas
// without changes. Every node keeps every other live node's set (peers.go)
// and answers queries from memory (query.go). A gap in a node's sequence,
// or a beat past what was applied, makes the receiver ask that node for a
// snapshot (sent in bounded chunks), applying the deltas that arrive
// meanwhile after it; a starting node, or one whose bus reconnected, asks
// every node at once.
//
// A node not heard from for the TTL is dead: its members leave every
// answer at once, and one node, the live one with the smallest name (the
// next one if it dies too), announces them as left (nodes.go).
//
// Start reading at Open (registry.go); Query answers "who is here".
package presence
