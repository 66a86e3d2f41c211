// Package siotest is a minimal Socket.IO v5 client over Engine.IO v4
// WebSocket for sockbus's Go tests: it answers pings and exposes raw
// Socket.IO packets, so tests assert on exactly what went over the wire.
//
// Start reading at Dial and Client.Connect (client.go, the only file).
package siotest
