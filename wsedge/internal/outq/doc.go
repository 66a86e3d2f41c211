// Package outq is the bounded outbound queue of one WebSocket connection.
//
// A broadcast is encoded once into a [Frame] that every receiving connection
// shares; each connection's [Queue] holds pointers to such frames and writes
// them with one writev per batch on a goroutine that exists only while there
// is something to write. Push never blocks: a connection whose queue passes
// its bounds gets [ErrFull] and must be disconnected as a slow consumer.
package outq
