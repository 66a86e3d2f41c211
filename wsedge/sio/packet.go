package sio

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// Type is a Socket.IO packet type, the first byte of every packet.
type Type byte

// The packet types of protocol v5.
const (
	Connect      Type = 0
	Disconnect   Type = 1
	Event        Type = 2
	Ack          Type = 3
	ConnectError Type = 4
	BinaryEvent  Type = 5
	BinaryAck    Type = 6
)

var typeNames = [...]string{
	Connect:      "CONNECT",
	Disconnect:   "DISCONNECT",
	Event:        "EVENT",
	Ack:          "ACK",
	ConnectError: "CONNECT_ERROR",
	BinaryEvent:  "BINARY_EVENT",
	BinaryAck:    "BINARY_ACK",
}

// String returns the protocol's name for t, such as "BINARY_EVENT".
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of the seven packet types.
func (t Type) Valid() bool { return t <= BinaryAck }

// Binary reports whether packets of type t carry binary attachments.
func (t Type) Binary() bool { return t == BinaryEvent || t == BinaryAck }

const (
	// NoID is [Packet.ID] when the packet carries no ack id.
	NoID int64 = -1
	// MaxID is the largest ack id accepted: the largest integer a JavaScript
	// number holds exactly. socket.io accepts longer ids and rounds them.
	MaxID int64 = 1<<53 - 1
	// DefaultMaxAttachments is the attachment limit of [Decode] and of a
	// zero [Decoder], socket.io's default maxAttachments.
	DefaultMaxAttachments = 10
)

// Packet is one Socket.IO packet, without its binary attachments.
//
// Wire form: <type>[<attachments>-][<namespace>,][<id>][<JSON payload>].
type Packet struct {
	Type Type
	// Namespace starts with '/' and holds no ','; "/" when absent on the
	// wire. Append treats "" as "/".
	Namespace string
	// ID is the ack id, or NoID.
	ID int64
	// Attachments is the number of binary messages that follow a
	// BinaryEvent or BinaryAck; zero for the other types.
	Attachments int
	// Data is the JSON payload exactly as received, trailing whitespace
	// included, or nil when absent. From Decode it aliases the decoded text.
	Data []byte
}

// Decoder decodes packets under a configurable attachment limit. The zero
// value is ready to use; a Decoder is a plain value, safe for concurrent use.
type Decoder struct {
	// MaxAttachments is the largest attachment count a BinaryEvent or
	// BinaryAck may announce. Zero or negative means DefaultMaxAttachments.
	MaxAttachments int
}

// Decode decodes one packet with the zero [Decoder]: see [Decoder.Decode].
func Decode(text []byte) (Packet, error) { return Decoder{}.Decode(text) }

// Decode decodes one Socket.IO packet from the text of an Engine.IO message
// (without the Engine.IO '4'). It validates as socket.io-parser does and
// closes the holes it leaves open; see the package documentation for the
// exact differences. The payload is validated as JSON but not copied:
// p.Data aliases text, so copy it before reusing text's buffer. Placeholders
// in binary packets are not checked here: call [CheckPlaceholders].
//
// Every error matches [ErrInvalidPacket]; the packet is then the zero Packet.
// Decode allocates only to copy a namespace other than "/".
func (d Decoder) Decode(text []byte) (Packet, error) {
	if len(text) == 0 {
		return Packet{}, fmt.Errorf("failed to decode packet: empty text: %w", ErrUnknownType)
	}
	c := text[0]
	if c < '0' || c > '0'+byte(BinaryAck) {
		return Packet{}, fmt.Errorf("failed to decode packet: type byte %q: %w", c, ErrUnknownType)
	}
	p := Packet{Type: Type(c - '0'), Namespace: "/", ID: NoID}
	i := 1

	if p.Type.Binary() {
		limit := d.MaxAttachments
		if limit <= 0 {
			limit = DefaultMaxAttachments
		}
		limit = min(limit, math.MaxInt32)
		n, start := 0, i
		for ; i < len(text) && isDigit(text[i]); i++ {
			if n = n*10 + int(text[i]-'0'); n > limit {
				return Packet{}, fmt.Errorf("failed to decode %v packet: more than %d attachments: %w", p.Type, limit, ErrTooManyAttachments)
			}
		}
		if i == start || i >= len(text) || text[i] != '-' || n == 0 {
			return Packet{}, fmt.Errorf("failed to decode %v packet: attachment count %q: %w", p.Type, text[start:min(i+1, len(text))], ErrInvalidAttachments)
		}
		p.Attachments = n
		i++
	}

	if i < len(text) && text[i] == '/' {
		ns := text[i:]
		if j := bytes.IndexByte(ns, ','); j >= 0 {
			ns = ns[:j]
			i += j + 1
		} else {
			i = len(text)
		}
		if !utf8.Valid(ns) {
			return Packet{}, fmt.Errorf("failed to decode %v packet: namespace is not UTF-8: %w", p.Type, ErrInvalidNamespace)
		}
		if len(ns) > 1 {
			p.Namespace = string(ns)
		}
	}

	if i < len(text) && isDigit(text[i]) {
		var id int64
		for ; i < len(text) && isDigit(text[i]); i++ {
			if id = id*10 + int64(text[i]-'0'); id > MaxID {
				return Packet{}, fmt.Errorf("failed to decode %v packet: ack id over %d: %w", p.Type, MaxID, ErrInvalidID)
			}
		}
		p.ID = id
	}

	if i < len(text) {
		p.Data = text[i:len(text):len(text)]
	}
	if err := checkPayload(p.Type, p.Data); err != nil {
		return Packet{}, err
	}
	return p, nil
}

// checkPayload validates data as the payload of a packet of type t, with
// socket.io-parser's isPayloadValid rules made strict (see doc.go).
func checkPayload(t Type, data []byte) error {
	if data == nil {
		if t == Connect || t == Disconnect {
			return nil
		}
		return fmt.Errorf("failed to decode %v packet: payload missing: %w", t, ErrInvalidPayload)
	}
	var want string
	switch c := data[0]; t {
	case Connect:
		if c != '{' {
			want = "an object"
		}
	case Disconnect:
		return fmt.Errorf("failed to decode %v packet: unexpected payload: %w", t, ErrInvalidPayload)
	case ConnectError:
		if c != '{' && c != '"' {
			want = "an object or a string"
		}
	case Ack, BinaryAck:
		if c != '[' {
			want = "an array"
		}
	case Event, BinaryEvent:
		return checkEventPayload(t, data)
	}
	if end, code := scanDocument(data); code != scanOK {
		return jsonError("decode "+t.String()+" packet", end, code)
	}
	if want != "" {
		return fmt.Errorf("failed to decode %v packet: payload is not %s: %w", t, want, ErrInvalidPayload)
	}
	return nil
}

// checkEventPayload validates an EVENT or BINARY_EVENT payload: a JSON
// array whose first element is a string that is not reserved, or a number.
func checkEventPayload(t Type, data []byte) error {
	// One pass validates the whole document; the first element is then
	// looked at again, which costs only the name's bytes.
	if end, code := scanDocument(data); code != scanOK {
		return jsonError("decode "+t.String()+" packet", end, code)
	}
	if data[0] != '[' {
		return fmt.Errorf("failed to decode %v packet: payload is not an array: %w", t, ErrInvalidPayload)
	}
	i := skipSpace(data, 1)
	switch c := data[i]; {
	case c == '"':
		end, _ := scanString(data, i)
		if reservedName(data[i+1 : end-1]) {
			return fmt.Errorf("failed to decode %v packet: event name %s: %w", t, data[i:end], ErrReservedEvent)
		}
	case c == ']':
		return fmt.Errorf("failed to decode %v packet: empty array: %w", t, ErrInvalidPayload)
	case c != '-' && !isDigit(c):
		return fmt.Errorf("failed to decode %v packet: event name is neither a string nor a number: %w", t, ErrInvalidPayload)
	}
	return nil
}

func jsonError(what string, offset int, code scanCode) error {
	return fmt.Errorf("failed to %s: %v at payload offset %d: %w", what, code, offset, ErrInvalidJSON)
}

// Append appends the wire form of p to dst and returns the extended slice;
// it allocates only when dst lacks room. The namespace is written (with its
// ',') only when it is not "/" or "". Data is written as is, so Append of a
// packet with Data nil writes just the header: append the payload after it
// (with [JoinEvent], say) to build a packet without an intermediate copy.
// Append does not validate p.
func Append(dst []byte, p Packet) []byte {
	dst = strconv.AppendUint(dst, uint64(p.Type), 10)
	if p.Type.Binary() {
		dst = strconv.AppendInt(dst, int64(p.Attachments), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.ID >= 0 {
		dst = strconv.AppendInt(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}
