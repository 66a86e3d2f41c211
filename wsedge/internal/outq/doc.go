// Package outq is the bounded outbound queue of one WebSocket connection.
//
// A broadcast is encoded once into a [Frame] that every receiving connection
// shares; each connection's [Queue] holds pointers to such frames and writes
// them with one writev per batch. A few shared flusher goroutines make those
// writes without blocking; a connection whose socket cannot take its batch
// gets a writer goroutine of its own until its queue is empty. Push never
// blocks: a connection whose queue passes its bounds gets [ErrFull] and must
// be disconnected as a slow consumer.
//
// Start reading at New and Queue.Push (queue.go), then Frame (frame.go) and
// the shared flushers (flush.go).
package outq
