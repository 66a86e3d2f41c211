package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/sio"
)

// Headers of Socket.IO messages on the bus.
const (
	// HeaderExcept lists room tokens (comma-separated) whose sockets must
	// not receive the message; a socket id counts as a room.
	HeaderExcept = bus.HeaderExcept
	// HeaderRooms lists the room tokens of a message sent to several rooms.
	HeaderRooms = bus.HeaderRooms
	// HeaderAttachments lists the byte sizes of the binary attachments
	// appended, in order, after the JSON arguments.
	HeaderAttachments = bus.HeaderAttachments
	// HeaderSocket names the socket a client event came from (sockbus.in.>).
	HeaderSocket = bus.HeaderSocket
)

// Operator is an emit being built: To/In/Except/Volatile narrow it, Emit
// sends it. Operators are values: each method returns a new one.
type Operator struct {
	ns       *Namespace
	rooms    []string
	except   []string
	from     string
	user     string      // the sending socket's user, for HeaderUser
	order    *bus.Sender // the sending socket's: its stored events keep its order
	volatile bool
	stored   *whenStored  // WhenStored's
	self     *selfHeaders // the broadcasting socket's, when from is its id
}

// whenStored is WhenStored's message id and callback.
type whenStored struct {
	id string
	fn func(offset string, err error)
}

// WhenStored makes the emit (EmitRaw, Emit) or socket operation
// (SocketsJoin, SocketsLeave, DisconnectSockets) call fn once JetStream
// stored it, with its offset ("<epoch>.<sequence>" of the namespace's log,
// as clients receive offsets), or failed to; a volatile emit calls it with
// "" once published. id, when not empty, is the message's id: publishes
// with one id within the bus's duplicate window (bus.Bus.DupWindow) are
// stored once, and each gets the first one's offset. fn runs on the bus's
// acknowledgement goroutine and must not block.
func (o Operator) WhenStored(id string, fn func(offset string, err error)) Operator {
	o.stored = &whenStored{id: id, fn: fn}
	return o
}

// publishWhenStored publishes m for WhenStored.
func (o Operator) publishWhenStored(m *bus.Msg) error {
	log, w := o.ns.log, o.stored
	return o.ns.srv.bus.PublishStoredAs(m, w.id, func(ack bus.Stored, err error) {
		switch {
		case err != nil:
			o.ns.srv.metrics.PublishError()
			w.fn("", err)
		case log.Stream == nil || ack.Stream != log.Stream.Name:
			w.fn("", fmt.Errorf("wsedge: stored in stream %q, not the namespace's log", ack.Stream))
		default:
			w.fn(log.Epoch()+"."+strconv.FormatUint(ack.Seq, 10), nil)
		}
	})
}

// To targets the sockets in any of rooms (a socket id targets that socket).
func (n *Namespace) To(rooms ...string) Operator { return Operator{ns: n}.To(rooms...) }

// In is To.
func (n *Namespace) In(rooms ...string) Operator { return n.To(rooms...) }

// Except leaves out the sockets in any of rooms.
func (n *Namespace) Except(rooms ...string) Operator { return Operator{ns: n}.Except(rooms...) }

// Volatile emits without storing: no history, no recovery, no offset.
func (n *Namespace) Volatile() Operator { return Operator{ns: n, volatile: true} }

// Emit sends an event to every socket of the namespace, on every node.
func (n *Namespace) Emit(event string, args ...any) error {
	return Operator{ns: n}.Emit(event, args...)
}

// To adds target rooms.
func (o Operator) To(rooms ...string) Operator {
	o.rooms = append(append([]string(nil), o.rooms...), rooms...)
	return o
}

// In is To.
func (o Operator) In(rooms ...string) Operator { return o.To(rooms...) }

// Except adds rooms whose sockets are left out.
func (o Operator) Except(rooms ...string) Operator {
	o.except = append(append([]string(nil), o.except...), rooms...)
	return o
}

// Volatile makes the emit live-only: not stored, not replayed.
func (o Operator) Volatile() Operator {
	o.volatile = true
	return o
}

// Emit encodes args and publishes the event. A []byte argument becomes a
// binary attachment, a json.RawMessage is sent as is, anything else is
// JSON-encoded. It returns once the event is handed to the bus; it never
// waits on a client.
func (o Operator) Emit(event string, args ...any) error {
	array, atts, err := encodeArgs(args)
	if err != nil {
		return err
	}
	return o.EmitRaw(event, array, atts, nil)
}

// EmitRaw publishes an event whose arguments are already a JSON array
// (binary placeholders in place, attachments in order). onStored, if not
// nil, is called once JetStream stored the event (err nil) or failed to; a
// volatile emit calls it at once. onStored runs on the bus's acknowledgement
// goroutine and must not block.
func (o Operator) EmitRaw(event string, args []byte, attachments [][]byte, onStored func(error)) error {
	if sio.IsReserved(event) {
		return fmt.Errorf("wsedge: %q is a reserved event name", event)
	}
	if o.ns.local {
		if o.stored != nil {
			return fmt.Errorf("failed to emit %q: %w", event, ErrLocalNamespace)
		}
		return o.emitLocal(event, args, attachments, onStored)
	}
	m, err := o.message(event, args, attachments)
	if err != nil {
		return err
	}
	b := o.ns.srv.bus
	if o.volatile {
		m.Subject = bus.Live(m.Subject)
		err := b.PublishLive(m)
		if onStored != nil {
			onStored(err)
		}
		if o.stored != nil {
			o.stored.fn("", err)
		}
		return err
	}
	if o.stored != nil {
		return o.publishWhenStored(m)
	}
	if o.order != nil && onStored == nil { // a client's event nobody waits for
		if err := b.PublishBy(o.order, m); err != nil {
			o.ns.srv.metrics.PublishError()
			o.ns.srv.storeFailed(err)
			return err
		}
		return nil
	}
	if onStored != nil {
		if mt := o.ns.srv.metrics; mt != nil {
			start, done := time.Now(), onStored
			onStored = func(err error) {
				if err != nil {
					mt.PublishError()
				} else {
					mt.ObserveStore(start)
				}
				done(err)
			}
		}
		var err error
		if o.order != nil {
			err = b.PublishStoredBy(o.order, m, onStored)
		} else {
			err = b.PublishStored(m, onStored)
		}
		if err != nil {
			o.ns.srv.metrics.PublishError()
		}
		return err
	}
	if err = b.Publish(m); err != nil {
		o.ns.srv.metrics.PublishError()
	}
	return err
}

// message builds the bus message for an emit.
func (o Operator) message(event string, args []byte, attachments [][]byte) (*bus.Msg, error) {
	n := o.ns
	if n.match != nil {
		return nil, fmt.Errorf("wsedge: emit on a dynamic namespace parent is not supported; emit on a child")
	}
	to := bus.IOAddress{Kind: bus.IOAll, Event: event}
	m := &bus.Msg{Header: bus.Header{}}
	switch {
	case len(o.rooms) == 1: // a socket id is a room: its socket gets it
		to.Kind, to.Target = bus.IORoom, o.rooms[0]
	case len(o.rooms) > 1:
		to.Kind = bus.IORooms
		if err := setTokenList(m.Header, HeaderRooms, o.rooms); err != nil {
			return nil, err
		}
	}
	subject, err := bus.IOSubject(n.subjBase, to)
	if err != nil {
		return nil, fmt.Errorf("failed to emit %q: %w", event, err)
	}
	m.Subject = subject
	switch h := o.self; {
	case h != nil && h.exceptHdr != nil && len(o.except) == 1 && &o.except[0] == &h.except[0]:
		m.Header[HeaderExcept] = h.exceptHdr // Broadcast's own list, encoded once
	default:
		if err := setTokenList(m.Header, HeaderExcept, o.except); err != nil {
			return nil, err
		}
	}
	switch {
	case o.self != nil && o.from == o.self.fromHeader[0]:
		m.Header[bus.HeaderFrom] = o.self.fromHeader
	case o.from != "":
		m.Header[bus.HeaderFrom] = []string{o.from}
	}
	if o.user != "" {
		m.Header[wsedge.HeaderUser] = []string{o.user}
	}
	if len(args) == 0 {
		args = []byte("[]")
	}
	joinAttachments(m, args, attachments)
	return m, nil
}

// setTokenList sets header key to names as comma-separated tokens; nothing
// when names is empty.
func setTokenList(h bus.Header, key string, names []string) error {
	if len(names) == 0 {
		return nil
	}
	v, err := bus.EncodeTokenList(names)
	if err != nil {
		return fmt.Errorf("failed to emit: %w", err)
	}
	h[key] = []string{v}
	return nil
}

// encodeArgs turns Go values into a JSON array and binary attachments.
func encodeArgs(args []any) ([]byte, [][]byte, error) {
	if len(args) == 0 {
		return []byte("[]"), nil, nil
	}
	var buf bytes.Buffer
	var atts [][]byte
	buf.WriteByte('[')
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i, a := range args {
		if i > 0 {
			buf.WriteByte(',')
		}
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&buf, `{"_placeholder":true,"num":%d}`, len(atts))
			atts = append(atts, v)
		case json.RawMessage:
			if !json.Valid(v) {
				return nil, nil, fmt.Errorf("wsedge: argument %d is not valid JSON", i)
			}
			buf.Write(v)
		default:
			if err := enc.Encode(v); err != nil {
				return nil, nil, fmt.Errorf("failed to encode argument %d: %w", i, err)
			}
			buf.Truncate(buf.Len() - 1) // Encode's newline
		}
	}
	buf.WriteByte(']')
	return buf.Bytes(), atts, nil
}

// joinAttachments sets m's payload: the JSON arguments, then each binary
// attachment, their sizes in the Sockbus-Attachments header.
func joinAttachments(m *bus.Msg, args []byte, attachments [][]byte) {
	if len(attachments) == 0 {
		m.Data = args
		return
	}
	size := len(args)
	sizes := make([]string, len(attachments))
	for i, a := range attachments {
		size += len(a)
		sizes[i] = strconv.Itoa(len(a))
	}
	data := make([]byte, 0, size)
	data = append(data, args...)
	for _, a := range attachments {
		data = append(data, a...)
	}
	m.Data = data
	m.Header[HeaderAttachments] = []string{strings.Join(sizes, ",")}
}

// splitAttachments separates a bus payload into JSON arguments and
// attachments (the inverse of joinAttachments).
func splitAttachments(m *bus.Msg) ([]byte, [][]byte, error) {
	h := m.Header[HeaderAttachments]
	if len(h) == 0 || h[0] == "" {
		return m.Data, nil, nil
	}
	parts := strings.Split(h[0], ",")
	atts := make([][]byte, len(parts))
	end := len(m.Data)
	for i := len(parts) - 1; i >= 0; i-- {
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 || n > end {
			return nil, nil, fmt.Errorf("wsedge: bad %s header %q", HeaderAttachments, h[0])
		}
		atts[i] = m.Data[end-n : end]
		end -= n
	}
	return m.Data[:end], atts, nil
}

// Operate returns an Operator on namespace name ("/chat") for operations on
// its sockets on every node (Emit, To/In/Except, SocketsJoin, SocketsLeave,
// DisconnectSockets, FetchSockets), without registering the name on this
// node as Of would: a name served by OfFunc keeps being served by it.
func (s *Server) Operate(name string) (Operator, error) {
	if !strings.HasPrefix(name, "/") || len(name) > bus.MaxNameLen {
		return Operator{}, fmt.Errorf("wsedge: bad namespace name %q", name)
	}
	s.mu.Lock()
	n := s.static[name]
	if n == nil {
		n = s.children[name]
	}
	s.mu.Unlock()
	if n == nil {
		n = newNamespace(s, name, nil) // a handle for publishing only, never indexed
	}
	return Operator{ns: n}, nil
}
