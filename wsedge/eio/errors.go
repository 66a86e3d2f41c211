package eio

import "errors"

var (
	// ErrEmptyPacket reports a text frame or payload record with no type byte.
	ErrEmptyPacket = errors.New("eio: empty packet")
	// ErrUnknownType reports a type byte outside '0'..'6' (and not the 'b'
	// binary prefix).
	ErrUnknownType = errors.New("eio: unknown packet type")
	// ErrBase64 reports a 'b' binary packet whose data is not standard base64.
	ErrBase64 = errors.New("eio: invalid base64 in binary packet")
)
