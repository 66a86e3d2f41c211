// Package app is the sockbus process: the command line, and the wiring
// from the operator's settings to a serving node and back down.
//
// Start reading at Main (cli.go): it runs the subcommands (version,
// config, token) or parses the settings (package config) and calls run
// (run.go), which goes step by step: preflight (every setting checked
// before anything starts), the data dir's claim, the listener on --addr
// (health answers at once), the bus, the two edges (plain WebSocket
// channels and the Socket.IO server, with the authorizer, history and
// per-address budget they share), the routes, and the start-up line
// (startline.go). shutdown.go stops the node in order. settings.go turns
// the settings into each package's Config, one function per package;
// auth.go and admin.go build the authorizer and the admin UI from them.
//
// The integration tests that start run with real clients over loopback
// live here (app/*_test.go, run from the repository's root); the root's
// integration_test.go drives the built binary itself.
package app
