// Package suite runs every benchmark scenario against the three servers
// (sockbus, the Node socket.io relay, the bare gws relay), one server at a
// time, each on a fresh loopback port (sockbus with a fresh data dir), and
// turns the results into one table of figures and ratios.
//
// Start reading at Run (suite.go); server.go starts each server, table.go
// writes the table.
package suite
