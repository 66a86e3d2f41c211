package bus

import "github.com/sockbus/sockbus/bus/internal/testhook"

// The hooks package bus/bustest uses; nothing else in the module reaches
// them (bus/internal).
func init() {
	testhook.CloseConn = func(b any) { b.(*Bus).nc.Close() }
	testhook.SyncSubject = syncSubject
}
