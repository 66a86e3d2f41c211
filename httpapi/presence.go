package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/presence"
	"github.com/sockbus/sockbus/wsedge/channels"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// ChannelPresence answers who is connected to a plain WebSocket channel
// on every node: *channels.Server.
type ChannelPresence interface {
	Presence(ctx context.Context, channel string) (presence.Answer, error)
}

var _ ChannelPresence = (*channels.Server)(nil)

// readPresence answers who is in a namespace (in room, when given) or
// connected to a channel, on every node: what a socket's sockbus:presence
// gets, {"count":N,"members":[{"id","user"}]}, the count the true one and
// the list bounded.
func (s *Server) readPresence(q *request) (any, error) {
	query := q.r.URL.Query()
	namespace, channel, room := query.Get("namespace"), query.Get("channel"), query.Get("room")
	ctx, cancel := context.WithTimeout(q.r.Context(), s.cfg.FetchTimeout)
	defer cancel()
	var a presence.Answer
	var err error
	switch {
	case (namespace == "") == (channel == ""):
		return nil, fail(http.StatusBadRequest, "exactly one of namespace and channel is required")
	case channel != "":
		if room != "" {
			return nil, fail(http.StatusBadRequest, "room is for a namespace: a channel has no rooms")
		}
		if _, err := s.channelToken(channel); err != nil {
			return nil, err
		}
		if s.cfg.ChannelPresence == nil {
			return nil, errPresenceOff
		}
		a, err = s.cfg.ChannelPresence.Presence(ctx, channel)
	default:
		op, oerr := s.operator(namespace)
		if oerr != nil {
			return nil, oerr
		}
		if room != "" {
			if _, terr := bus.EncodeToken(room); terr != nil {
				return nil, fail(http.StatusBadRequest, "bad room: %v", terr)
			}
			op = op.In(room)
		}
		a, err = op.Presence(ctx)
	}
	switch {
	case errors.Is(err, socketio.ErrPresenceOff), errors.Is(err, channels.ErrPresenceOff):
		return nil, errPresenceOff
	case err != nil:
		return nil, badName(err) // a node-local namespace: 400; the request ended: 503
	}
	return a, nil
}

// errPresenceOff answers a presence request on a server without presence.
var errPresenceOff = fail(http.StatusServiceUnavailable, "presence is off (--presence-ttl 0)")
