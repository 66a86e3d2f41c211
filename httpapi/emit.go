package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/wsedge/sio"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 255

// stored is the answer of emit and publish: where the event was stored
// (null for a volatile emit).
type stored struct {
	Offset *string `json:"offset"`
}

// emitRequest is POST emit's body.
type emitRequest struct {
	Namespace string          `json:"namespace"`
	Event     string          `json:"event"`
	Args      json.RawMessage `json:"args"`
	Rooms     []string        `json:"rooms"`
	Except    []string        `json:"except"`
	Volatile  bool            `json:"volatile"`
}

// emit sends an event to a namespace (or the union of rooms, minus except)
// and answers once it is stored, with its offset.
func (s *Server) emit(q *request) (any, error) {
	var req emitRequest
	if err := s.decode(q, &req); err != nil {
		return nil, err
	}
	switch {
	case req.Event == "":
		return nil, fail(http.StatusBadRequest, "event is required")
	case sio.IsReserved(req.Event):
		return nil, fail(http.StatusBadRequest, "%q is a reserved event name", req.Event)
	}
	args := bytes.TrimSpace(req.Args)
	if len(args) == 0 || string(args) == "null" {
		args = []byte("[]")
	}
	if args[0] != '[' {
		return nil, fail(http.StatusBadRequest, "args must be a JSON array")
	}
	op, err := s.operator(req.Namespace)
	if err != nil {
		return nil, err
	}
	op = op.To(req.Rooms...).Except(req.Except...)
	id, err := q.messageID()
	if err != nil {
		return nil, err
	}
	if req.Volatile {
		if id != "" {
			return nil, fail(http.StatusBadRequest, "Idempotency-Key needs a stored emit, not a volatile one")
		}
		op = op.Volatile()
	}
	return waitStored(func(fn func(string, error)) error {
		return op.WhenStored(id, fn).EmitRaw(req.Event, args, nil, nil)
	})
}

// publishRequest is POST publish's body: Data is a text frame,
// DataBase64 a binary one.
type publishRequest struct {
	Channel    string  `json:"channel"`
	Data       *string `json:"data"`
	DataBase64 *string `json:"data_base64"`
}

// publish sends a message to a plain WebSocket channel and answers once
// it is stored, with its offset.
func (s *Server) publish(q *request) (any, error) {
	var req publishRequest
	if err := s.decode(q, &req); err != nil {
		return nil, err
	}
	if (req.Data == nil) == (req.DataBase64 == nil) {
		return nil, fail(http.StatusBadRequest, "exactly one of data and data_base64 is required")
	}
	tok, err := s.channelToken(req.Channel)
	if err != nil {
		return nil, err
	}
	m := &bus.Msg{Subject: bus.ChannelSubject(tok), Header: bus.Header{}}
	if req.Data != nil {
		m.Data = []byte(*req.Data)
	} else {
		if m.Data, err = base64.StdEncoding.DecodeString(*req.DataBase64); err != nil {
			return nil, fail(http.StatusBadRequest, "data_base64 is not base64: %v", err)
		}
		m.Header.Set(bus.HeaderBinary, "1")
	}
	id, err := q.messageID()
	if err != nil {
		return nil, err
	}
	l := s.bus.Log(bus.KindChannel, tok)
	return waitStored(func(fn func(string, error)) error {
		return s.bus.PublishStoredAs(m, id, func(ack bus.Stored, err error) {
			switch {
			case err != nil:
				fn("", err)
			case ack.Stream != l.Stream.Name:
				fn("", fmt.Errorf("stored in stream %q, not the channel's log", ack.Stream))
			default:
				fn(l.Epoch()+"."+strconv.FormatUint(ack.Seq, 10), nil)
			}
		})
	})
}

// waitStored runs publish and waits for its callback, which the bus calls
// within its store timeout. The answer's offset is null for "".
func waitStored(publish func(fn func(offset string, err error)) error) (any, error) {
	type result struct {
		offset string
		err    error
	}
	done := make(chan result, 1)
	if err := publish(func(offset string, err error) { done <- result{offset, err} }); err != nil {
		return nil, badName(err)
	}
	r := <-done
	if r.err != nil {
		return nil, fmt.Errorf("failed to store: %w", r.err)
	}
	if r.offset == "" {
		return stored{}, nil
	}
	return stored{Offset: &r.offset}, nil
}

// badName turns the edge's refusal of a name (too long, a node-local namespace) into a 400;
// anything else stays an error of the server.
func badName(err error) error {
	switch {
	case errors.Is(err, bus.ErrNameTooLong), errors.Is(err, socketio.ErrLocalNamespace):
		return fail(http.StatusBadRequest, "%s", err.Error())
	}
	return err
}

// messageID is the message id of an idempotent call: the Idempotency-Key
// header scoped to the caller's API key (so two keys' callers cannot
// collide), or "" without one.
func (q *request) messageID() (string, error) {
	k := q.r.Header.Get("Idempotency-Key")
	if k == "" {
		return "", nil
	}
	if len(k) > maxIdempotencyKey {
		return "", fail(http.StatusBadRequest, "Idempotency-Key over %d bytes", maxIdempotencyKey)
	}
	sum := sha256.Sum256([]byte(k))
	return fmt.Sprintf("%s%x", q.key.idScope, sum[:16]), nil
}

// operator is the socketio operator on namespace name ("/" when empty):
// 404 for a name that does not exist, 400 for a malformed one.
func (s *Server) operator(name string) (socketio.Operator, error) {
	if name == "" {
		name = "/"
	}
	if !strings.HasPrefix(name, "/") || len(name) > bus.MaxNameLen+1 {
		return socketio.Operator{}, fail(http.StatusBadRequest, "namespace must start with / and be at most %d bytes", bus.MaxNameLen+1)
	}
	if s.cfg.Namespace != nil && !s.cfg.Namespace(name) {
		return socketio.Operator{}, fail(http.StatusNotFound, "unknown namespace")
	}
	op, err := s.io.Operate(name)
	if err != nil {
		return socketio.Operator{}, fail(http.StatusBadRequest, "%s", err.Error())
	}
	return op, nil
}

// channelToken is channel's subject token: 404 for a name that does not
// exist, 400 for a malformed one.
func (s *Server) channelToken(name string) (string, error) {
	if name == "" {
		return "", fail(http.StatusBadRequest, "channel is required")
	}
	if s.cfg.Channel != nil && !s.cfg.Channel(name) {
		return "", fail(http.StatusNotFound, "unknown channel")
	}
	tok, err := bus.EncodeToken(name)
	if err != nil {
		return "", fail(http.StatusBadRequest, "bad channel name: %v", err)
	}
	return tok, nil
}
