// Package scenario holds the load generator's scenarios (fan-out, acks,
// idle connections, replay, plain WebSocket fan-out). Each runs against one
// server, identified by its URL and process id, and returns named figures:
// throughput and latency measured by the loader, CPU time and resident
// memory read from the server's /proc entries before and after a
// measurement window. Every loop is bounded in count and time.
//
// Start reading at common.go ([Target], the server under test, and
// [Result], its figures), then fanout.go ([Fanout]); every other scenario
// is in the file named for it.
package scenario
