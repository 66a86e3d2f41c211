package eio

import (
	"encoding/base64"
	"fmt"
)

// Type is an Engine.IO packet type, written as its ASCII digit.
type Type byte

// Packet types of Engine.IO v4.
const (
	Open    Type = '0'
	Close   Type = '1'
	Ping    Type = '2'
	Pong    Type = '3'
	Message Type = '4'
	Upgrade Type = '5'
	Noop    Type = '6'
)

// Separator is the record separator between packets of a polling payload.
const Separator byte = 0x1e

// BinaryPrefix starts a base64-encoded binary message in a text encoding.
const BinaryPrefix byte = 'b'

// Valid reports whether t is one of the seven packet types.
func (t Type) Valid() bool { return t >= Open && t <= Noop }

// String returns the packet type's name as the protocol spells it.
func (t Type) String() string {
	switch t {
	case Open:
		return "open"
	case Close:
		return "close"
	case Ping:
		return "ping"
	case Pong:
		return "pong"
	case Message:
		return "message"
	case Upgrade:
		return "upgrade"
	case Noop:
		return "noop"
	}
	return fmt.Sprintf("Type(%#x)", byte(t))
}

// Packet is one Engine.IO packet. A binary packet is always a message: Binary
// set, Type Message and Data the raw bytes. Data may be nil for packets
// without a payload.
type Packet struct {
	Type   Type
	Data   []byte
	Binary bool
}

// DecodeText decodes a WebSocket text frame. Data aliases frame, except for a
// 'b'-prefixed base64 binary message (accepted as engine.io does), whose Data
// is newly allocated.
func DecodeText(frame []byte) (Packet, error) {
	if len(frame) == 0 {
		return Packet{}, ErrEmptyPacket
	}
	if frame[0] == BinaryPrefix {
		b, err := decodeBase64(frame[1:])
		if err != nil {
			return Packet{}, err
		}
		return Packet{Type: Message, Data: b, Binary: true}, nil
	}
	t := Type(frame[0])
	if !t.Valid() {
		return Packet{}, ErrUnknownType
	}
	p := Packet{Type: t}
	if len(frame) > 1 {
		p.Data = frame[1:]
	}
	return p, nil
}

// DecodeBinary decodes a WebSocket binary frame: always a binary message
// whose Data aliases frame.
func DecodeBinary(frame []byte) Packet {
	return Packet{Type: Message, Data: frame, Binary: true}
}

// DecodePayload decodes an HTTP long-polling payload and calls fn with each
// packet in order. It stops at the first malformed record and returns its
// error, wrapped with the record's index, after fn has seen every packet
// before it; it also stops, returning the same error, when fn returns one.
// An empty payload is one empty record and fails with ErrEmptyPacket.
// Text packets' Data aliases payload, capped so appending to it cannot
// overwrite the next record.
func DecodePayload(payload []byte, fn func(Packet) error) error {
	for i := 0; ; i++ {
		rec := payload
		end := indexSeparator(payload)
		if end >= 0 {
			rec = payload[:end:end]
		}
		p, err := DecodeText(rec)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if err := fn(p); err != nil {
			return err
		}
		if end < 0 {
			return nil
		}
		payload = payload[end+1:]
	}
}

func indexSeparator(b []byte) int {
	for i, c := range b {
		if c == Separator {
			return i
		}
	}
	return -1
}

// decodeBase64 accepts canonical standard base64, padded or not.
func decodeBase64(src []byte) ([]byte, error) {
	enc := base64.StdEncoding.Strict()
	if len(src)%4 != 0 {
		enc = base64.RawStdEncoding.Strict()
	}
	dst := make([]byte, enc.DecodedLen(len(src)))
	n, err := enc.Decode(dst, src)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBase64, err)
	}
	return dst[:n], nil
}

// AppendPacket appends p as a WebSocket message payload: the type byte and
// data for a text packet, the raw data for a binary one (to be sent in a
// binary frame).
func AppendPacket(dst []byte, p Packet) []byte {
	if p.Binary {
		return append(dst, p.Data...)
	}
	dst = append(dst, byte(p.Type))
	return append(dst, p.Data...)
}

// AppendPayload appends packets as an HTTP long-polling payload: records
// joined by Separator, binary messages as BinaryPrefix and standard base64.
// Appending to a non-empty payload needs a Separator first, which the caller
// writes.
func AppendPayload(dst []byte, packets ...Packet) []byte {
	for i, p := range packets {
		if i > 0 {
			dst = append(dst, Separator)
		}
		if p.Binary {
			dst = append(dst, BinaryPrefix)
			dst = base64.StdEncoding.AppendEncode(dst, p.Data)
			continue
		}
		dst = append(dst, byte(p.Type))
		dst = append(dst, p.Data...)
	}
	return dst
}
