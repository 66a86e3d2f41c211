package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/sockbus/sockbus/wsedge/socketio"
)

// roomsRequest is POST join's and leave's body: the sockets in any of In
// (rooms or socket ids; none: every socket of the namespace), minus those
// in Except, join or leave Room.
type roomsRequest struct {
	Namespace string   `json:"namespace"`
	In        []string `json:"in"`
	Except    []string `json:"except"`
	Room      string   `json:"room"`
}

func (s *Server) join(q *request) (any, error)  { return s.rooms(q, true) }
func (s *Server) leave(q *request) (any, error) { return s.rooms(q, false) }

// rooms runs socketsJoin or socketsLeave on every node, in order with the
// namespace's events (a stored operation), and answers once it is stored.
func (s *Server) rooms(q *request, join bool) (any, error) {
	var req roomsRequest
	if err := s.decode(q, &req); err != nil {
		return nil, err
	}
	if req.Room == "" {
		return nil, fail(http.StatusBadRequest, "room is required")
	}
	op, id, err := s.targets(q, req.Namespace, req.In, req.Except)
	if err != nil {
		return nil, err
	}
	return waitStored(func(fn func(string, error)) error {
		if join {
			return op.WhenStored(id, fn).SocketsJoin(req.Room)
		}
		return op.WhenStored(id, fn).SocketsLeave(req.Room)
	})
}

// disconnectRequest is POST disconnect's body.
type disconnectRequest struct {
	Namespace string   `json:"namespace"`
	In        []string `json:"in"`
	Except    []string `json:"except"`
	Close     bool     `json:"close"`
}

// disconnect runs disconnectSockets on every node, in order with the
// namespace's events, and answers once it is stored.
func (s *Server) disconnect(q *request) (any, error) {
	var req disconnectRequest
	if err := s.decode(q, &req); err != nil {
		return nil, err
	}
	op, id, err := s.targets(q, req.Namespace, req.In, req.Except)
	if err != nil {
		return nil, err
	}
	return waitStored(func(fn func(string, error)) error {
		return op.WhenStored(id, fn).DisconnectSockets(req.Close)
	})
}

// targets is the operator on the sockets of namespace in any of in, minus
// except, and the call's message id.
func (s *Server) targets(q *request, namespace string, in, except []string) (socketio.Operator, string, error) {
	op, err := s.operator(namespace)
	if err != nil {
		return op, "", err
	}
	id, err := q.messageID()
	return op.In(in...).Except(except...), id, err
}

// socketInfo is one socket in GET sockets' answer.
type socketInfo struct {
	ID    string         `json:"id"`
	Rooms []string       `json:"rooms"`
	User  *string        `json:"user"` // null when unauthenticated
	Data  map[string]any `json:"data"`
	Node  string         `json:"node"`
}

// sockets lists the sockets of a namespace (in room, when given) on every
// node, as fetchSockets does.
func (s *Server) sockets(q *request) (any, error) {
	query := q.r.URL.Query()
	op, err := s.operator(query.Get("namespace"))
	if err != nil {
		return nil, err
	}
	if room := query.Get("room"); room != "" {
		op = op.In(room)
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), s.cfg.FetchTimeout)
	defer cancel()
	list, err := op.FetchSockets(ctx)
	if errors.Is(err, socketio.ErrAckTimeout) {
		return nil, fmt.Errorf("not every node answered within %v", s.cfg.FetchTimeout)
	}
	if err != nil {
		return nil, badName(err)
	}
	out := make([]socketInfo, 0, len(list))
	for _, r := range list {
		info := socketInfo{ID: r.ID, Rooms: r.Rooms, Data: r.Data, Node: r.Node}
		if r.User != "" {
			info.User = &r.User
		}
		if info.Data == nil {
			info.Data = map[string]any{}
		}
		out = append(out, info)
	}
	return out, nil
}
