// Package freeport finds loopback addresses nothing listens on, for tests
// whose listeners must know each other's addresses before any of them
// starts (a NATS cluster's routes). It imports nothing of sockbus's, so
// any package's tests may use it, bus's own included.
//
// Everything is in freeport.go.
package freeport
