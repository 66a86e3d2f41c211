package socketio

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sockbus/sockbus/wsedge/sio"
)

// Event is one event a client emitted.
type Event struct {
	// Name is the event name.
	Name string
	// Args is the raw JSON array of arguments, byte for byte as the client
	// sent it; binary arguments are {"_placeholder":true,"num":i}.
	Args json.RawMessage
	// Attachments are the binary arguments, in placeholder order.
	Attachments [][]byte

	socket    *Socket
	ackID     int64
	acked     atomic.Bool
	forwarded bool

	// A forwarded ack's outcome and a store result that waits for it
	// (AckStored); guarded by fmu.
	fmu     sync.Mutex
	outcome forwardOutcome
	stored  *error
}

// forwardOutcome is what became of an ack forwarded to NATS handlers.
type forwardOutcome uint8

const (
	forwardPending  forwardOutcome = iota
	forwardAnswered                // a handler answered the ack
	forwardNobody                  // no handler listened (the server said "no responders")
)

// Socket is the socket the event came from.
func (e *Event) Socket() *Socket { return e.socket }

// WantsAck reports whether the client waits for an acknowledgement.
func (e *Event) WantsAck() bool { return e.ackID != sio.NoID }

// AckForwarded reports whether a NATS handler was asked to answer the ack
// (someone subscribes to the event's sockbus.in subject); the first answer wins.
func (e *Event) AckForwarded() bool { return e.forwarded }

// AckStored answers the ack for a stored event: Ack when err is nil, else
// the not-stored error ack. When the ack was forwarded to NATS handlers it
// waits for them: a handler's answer wins and the store's result is
// dropped; when none listened it applies. On an external NATS a node cannot
// see whether a handler listens before it forwards (Bus.HasInterest).
func (e *Event) AckStored(err error) {
	if !e.WantsAck() {
		return
	}
	if e.forwarded {
		e.fmu.Lock()
		if e.outcome == forwardPending {
			e.stored = &err
			e.fmu.Unlock()
			return
		}
		nobody := e.outcome == forwardNobody
		e.fmu.Unlock()
		if !nobody {
			return
		}
	}
	e.ackStoreResult(err)
}

func (e *Event) ackStoreResult(err error) {
	if err != nil {
		_ = e.AckError(ErrAckNotStored)
		return
	}
	_ = e.AckRaw([]byte("[]"), nil)
}

// forwardDone records the forwarded ack's outcome and applies a store
// result that was waiting for it.
func (e *Event) forwardDone(o forwardOutcome) {
	e.fmu.Lock()
	e.outcome = o
	stored := e.stored
	e.stored = nil
	e.fmu.Unlock()
	if o == forwardNobody && stored != nil {
		e.ackStoreResult(*stored)
	}
}

// Arg decodes argument i into v.
func (e *Event) Arg(i int, v any) error {
	elems, err := sio.Elements(e.Args)
	if err != nil {
		return err
	}
	if i < 0 || i >= len(elems) {
		return fmt.Errorf("wsedge: event %q has no argument %d", e.Name, i)
	}
	return json.Unmarshal(elems[i], v)
}

// Ack answers the client's acknowledgement with args (encoded as by Emit).
// Only the first call sends anything; it is a no-op when no ack was asked.
func (e *Event) Ack(args ...any) error {
	array, atts, err := encodeArgs(args)
	if err != nil {
		return err
	}
	return e.AckRaw(array, atts)
}

// AckRaw answers with an already encoded JSON array and attachments.
func (e *Event) AckRaw(args []byte, attachments [][]byte) error {
	if !e.WantsAck() || !e.acked.CompareAndSwap(false, true) {
		return nil
	}
	return e.socket.sendAck(e.ackID, args, attachments)
}

// Reasons a client event is refused; an event that asked for an ack gets
// [{"error": <reason>}] (docs/socketio.md, "Error acks").
const (
	ErrAckRateLimited  = "rate limit exceeded"
	ErrAckNameTooLong  = "event name longer than 255 bytes"
	ErrAckNotStored    = "event not stored"
	ErrAckNotDelivered = "event not delivered"
)

// AckError answers the client's acknowledgement with one argument,
// {"error": reason}: the shape of every refusal sockbus acks.
func (e *Event) AckError(reason string) error {
	body, _ := json.Marshal([]map[string]string{{"error": reason}})
	return e.AckRaw(body, nil)
}
