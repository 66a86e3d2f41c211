package wsconn

import (
	"errors"

	"github.com/lxzan/gws"

	"github.com/sockbus/sockbus/metrics"
)

// Fault names the client's fault when gws's reader ended a connection for
// it: gws hands OnClose a bare status code (Uint16) for a frame over the
// size limit and gws.ErrTextEncoding for a text frame that is not UTF-8.
// A close frame the client sent is a *gws.CloseError and no fault.
func Fault(err error) (metrics.Reason, bool) {
	if errors.Is(err, gws.ErrTextEncoding) {
		return metrics.ReasonBadUTF8, true
	}
	var code interface{ Uint16() uint16 }
	if errors.As(err, &code) && code.Uint16() == 1009 {
		return metrics.ReasonOversize, true
	}
	return 0, false
}
