// Package handlers holds what the sockbus binary does with client events
// when no code is written: the relay. Custom servers build their own apps on
// wsedge's Go API (or on NATS) instead.
package handlers
