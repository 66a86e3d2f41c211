// Package loopback gives tests real TCP sockets on 127.0.0.1: addresses
// nothing listens on yet, for listeners that must know each other's
// addresses before any of them starts (a NATS cluster's routes), and both
// ends of one connection, for code that needs a real socket's deadlines
// and buffers. It imports nothing of sockbus's, so any package's tests may
// use it, bus's own included.
//
// Everything is in loopback.go.
package loopback
