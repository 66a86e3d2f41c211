// Package wsedge holds what sockbus's two client-facing products share:
// the plain WebSocket channels ([github.com/sockbus/sockbus/wsedge/channels])
// and the Socket.IO server ([github.com/sockbus/sockbus/wsedge/socketio]).
//
// Start reading at authorize.go: the [Authorizer] contract both products
// ask before a client enters (and again when it refreshes its token,
// refresh.go). close.go lists the close codes and reasons a client can be
// sent and what they mean for reconnecting. history.go declares the
// [History] and [SessionStore] interfaces package replay implements;
// hold.go is the [LiveHold] that joins a replay and the live stream without
// gap or duplicate; limits.go and addrbudget.go are the per-connection and
// per-address rate limits.
//
// The Engine.IO transport (engine), the packet codecs (eio, sio) and the
// bounded outbound queue (internal/outq) sit below both products.
package wsedge
