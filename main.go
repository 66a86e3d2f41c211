// Command sockbus is a realtime server: plain WebSocket channels and the
// Socket.IO protocol on an embedded NATS bus with JetStream history.
//
// This file only starts it: package app parses the command line and wires
// the process (start reading there, at app.Main).
package main

import (
	"os"

	"github.com/sockbus/sockbus/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}
