package socketio

import (
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge"
)

// refresh handles a Socket.IO RefreshEvent off the connection's goroutine
// (the Authorizer may ask a NATS hook).
func (s *Socket) refresh(e *Event) {
	var tok string
	if len(e.Args) > 0 {
		_ = e.Arg(0, &tok)
	}
	go func() {
		hs := s.Handshake()
		exp, reason := wsedge.RefreshGrant(s.ns.srv.cfg.Authorizer, wsedge.AuthRequest{
			Kind: wsedge.AuthNamespace, Name: s.ns.name, Token: tok, Auth: hs.Auth,
			Header: hs.Header(), Query: hs.Query(), RemoteAddr: hs.RemoteAddr,
		}, s.user)
		if reason != "" {
			s.ns.srv.metrics.Refused(metrics.ReasonAuth)
			s.ns.srv.warn.Warn("token refresh refused", "namespace", s.ns.name, "socket", s.id, "reason", reason)
			_ = e.AckError(reason)
			return
		}
		s.expiry.Set(exp, func() { s.disconnectWith(wsedge.ReasonTokenExpired) })
		_ = e.AckRaw(append(append([]byte{'['}, wsedge.RefreshAnswer(exp)...), ']'), nil)
	}()
}
