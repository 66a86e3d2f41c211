package handlers

import (
	"encoding/json"

	"github.com/sockbus/sockbus/wsedge/socketio"
)

// Operations from the UI (typed-events.d.ts, ClientEvents). A missing or
// null filter targets the whole namespace; a socket id is a room.

func (a *Admin) target(e *socketio.Event, nsIdx, filterIdx int) (socketio.Operator, string, bool) {
	var nsp string
	if err := e.Arg(nsIdx, &nsp); err != nil {
		a.warn.Warn("admin UI: bad operation", "op", e.Name, "err", err)
		return socketio.Operator{}, "", false
	}
	if nsp == a.cfg.Namespace || nsp == AdminNamespace { // node-local: no operation reaches it
		a.warn.Warn("admin UI: bad operation", "op", e.Name, "err", "the admin namespace takes no operations")
		return socketio.Operator{}, "", false
	}
	op, err := a.srv.Operate(nsp)
	if err != nil {
		a.warn.Warn("admin UI: bad operation", "op", e.Name, "err", err)
		return socketio.Operator{}, "", false
	}
	var filter *string
	if err := e.Arg(filterIdx, &filter); err == nil && filter != nil && *filter != "" {
		op = op.In(*filter)
	}
	return op, nsp, true
}

func (a *Admin) opEmit(e *socketio.Event) {
	op, _, ok := a.target(e, 0, 1)
	if !ok {
		return
	}
	var args []json.RawMessage
	if err := json.Unmarshal(e.Args, &args); err != nil || len(args) < 3 {
		a.warn.Warn("admin UI: bad operation", "op", e.Name)
		return
	}
	var event string
	if err := json.Unmarshal(args[2], &event); err != nil {
		a.warn.Warn("admin UI: bad operation", "op", e.Name, "err", err)
		return
	}
	rest := make([]any, 0, len(args)-3)
	for _, x := range args[3:] {
		rest = append(rest, x)
	}
	if err := op.Emit(event, rest...); err != nil {
		a.warn.Warn("admin UI: emit failed", "event", event, "err", err)
	}
}

func (a *Admin) opRooms(e *socketio.Event, join bool) {
	op, _, ok := a.target(e, 0, 2)
	if !ok {
		return
	}
	var room string
	if err := e.Arg(1, &room); err != nil || room == "" {
		a.warn.Warn("admin UI: bad operation", "op", e.Name)
		return
	}
	var err error
	if join {
		err = op.SocketsJoin(room)
	} else {
		err = op.SocketsLeave(room)
	}
	if err != nil {
		a.warn.Warn("admin UI: operation failed", "op", e.Name, "err", err)
	}
}

func (a *Admin) opDisconnect(e *socketio.Event) {
	op, _, ok := a.target(e, 0, 2)
	if !ok {
		return
	}
	var closeConn bool
	_ = e.Arg(1, &closeConn)
	if err := op.DisconnectSockets(closeConn); err != nil {
		a.warn.Warn("admin UI: operation failed", "op", e.Name, "err", err)
	}
}
