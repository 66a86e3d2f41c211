// Package handlers holds what the sockbus binary does with client events
// when no code is written: the relay. Custom servers build their own apps on
// wsedge/socketio's Go API (or on NATS) instead.
//
// It also holds the server side of the Socket.IO Admin UI (Admin, turned on
// by --admin-ui): an app on the same Go API, which watches every socket
// through socketio's Observer and acts on them with its cluster-wide
// operations.
package handlers
