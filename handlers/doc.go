// Package handlers holds what the sockbus binary does with client events
// when no code is written: the relay. Custom servers build their own apps on
// wsedge/socketio's Go API (or on NATS) instead.
//
// It also holds the server side of the Socket.IO Admin UI (Admin, turned on
// by --admin-ui): an app on the same Go API, which watches every socket
// through socketio's Observer and acts on them with its cluster-wide
// operations.
//
// Start reading at Relay (relay.go); the admin UI's side starts at NewAdmin
// (admin.go), with its login (adminlogin.go), its views of sockets
// (adminsocket.go) and its feed of events (adminfeed.go).
package handlers
