package channels

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lxzan/gws"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// refreshTemplate keeps what a plain WebSocket's refreshes ask the
// Authorizer with: the connect's request, without its token.
func refreshTemplate(r *http.Request, name string) *wsedge.AuthRequest {
	q := r.URL.Query()
	q.Del("token")
	h := r.Header.Clone()
	h.Del("Authorization")
	return &wsedge.AuthRequest{Kind: wsedge.AuthChannel, Name: name, Header: h, Query: q, RemoteAddr: r.RemoteAddr}
}

// refreshPrefix starts every plain WebSocket refresh frame.
var refreshPrefix = []byte(`{"` + wsedge.RefreshKey + `":`)

// refreshToken reports whether msg is a refresh frame for cc (a connection
// admitted by an Authorizer), and its token ("" when it carries none).
func refreshToken(cc *channelConn, msg *gws.Message) (string, bool) {
	if cc.authReq == nil || msg.Opcode != gws.OpcodeText || !bytes.HasPrefix(msg.Bytes(), refreshPrefix) {
		return "", false
	}
	var body map[string]json.RawMessage
	if json.Unmarshal(msg.Bytes(), &body) != nil || len(body) != 1 {
		return "", false
	}
	var tok string
	_ = json.Unmarshal(body[wsedge.RefreshKey], &tok)
	return tok, true
}

// refresh answers a plain WebSocket refresh frame on cc alone, off the
// read goroutine.
func (c *Server) refresh(cc *channelConn, tok string) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		req := *cc.authReq
		req.Token = tok
		exp, reason := wsedge.RefreshGrant(c.cfg.Authorizer, req, cc.user)
		answer := wsedge.RefreshError(reason)
		if reason == "" {
			cc.expiry.Set(exp, func() { cc.closeWith(wsedge.CloseTokenExpired, wsedge.ReasonTokenExpired) })
			answer = wsedge.RefreshAnswer(exp)
		} else {
			c.cfg.Metrics.Refused(metrics.ReasonAuth)
			c.warn.Warn("token refresh refused", "channel", req.Name, "conn", cc.id, "reason", reason)
		}
		f := outq.NewFrame(false, append(append(append([]byte(nil), refreshPrefix...), answer...), '}'))
		if err := cc.q.Push(f); errors.Is(err, outq.ErrFull) {
			c.closeAsync(cc, wsedge.CloseSlowConsumer, wsedge.ReasonSlowConsumer)
		}
	}()
}
