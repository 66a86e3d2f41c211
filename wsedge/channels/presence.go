package channels

import (
	"context"
	"errors"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/presence"
)

// ErrPresenceOff is Server.Presence without Config.Presence.
var ErrPresenceOff = errors.New("wsedge: presence is off")

// presenceOf records cc joining (or leaving) the channel of token tok.
// A plain WebSocket has no recovery: a leave is at once.
func (c *Server) presenceOf(tok string, cc *channelConn, joined bool) {
	reg := c.cfg.Presence
	if reg == nil {
		return
	}
	name, err := bus.DecodeToken(tok)
	if err != nil {
		return
	}
	w := presence.Where{Kind: presence.KindWS, Scope: name}
	if joined {
		reg.Join(w, cc.id, cc.user)
	} else {
		reg.Leave(w, cc.id, cc.user, false)
	}
}

// Presence answers who is connected to channel on every node: the true
// count and the first connections' ids (and users).
func (c *Server) Presence(ctx context.Context, channel string) (presence.Answer, error) {
	if c.cfg.Presence == nil {
		return presence.Answer{}, ErrPresenceOff
	}
	return c.cfg.Presence.Query(ctx, presence.Where{Kind: presence.KindWS, Scope: channel})
}
