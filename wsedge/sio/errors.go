package sio

import "errors"

// ErrInvalidPacket matches, through [errors.Is], every error this package
// returns: a caller that only needs to know "close the connection" checks
// this one. The more specific sentinels below say why.
var ErrInvalidPacket = errors.New("sio: invalid packet")

var (
	// ErrUnknownType reports a first byte that is not a packet type ('0'-'6').
	ErrUnknownType = newError("sio: unknown packet type")
	// ErrInvalidAttachments reports a binary packet whose attachment count
	// is missing, not decimal digits, zero or not followed by '-'.
	ErrInvalidAttachments = newError("sio: invalid attachment count")
	// ErrTooManyAttachments reports an attachment count over the decoder's
	// limit ([DefaultMaxAttachments] unless configured).
	ErrTooManyAttachments = newError("sio: too many attachments")
	// ErrInvalidNamespace reports a namespace that is not valid UTF-8.
	ErrInvalidNamespace = newError("sio: invalid namespace")
	// ErrInvalidID reports an ack id over [MaxID].
	ErrInvalidID = newError("sio: invalid ack id")
	// ErrInvalidJSON reports a payload that is not exactly one JSON value
	// (optionally followed by JSON whitespace) or holds invalid UTF-8.
	ErrInvalidJSON = newError("sio: invalid JSON")
	// ErrInvalidPayload reports valid JSON of the wrong shape for the packet
	// type, or a payload missing where one is required.
	ErrInvalidPayload = newError("sio: invalid payload")
	// ErrReservedEvent reports an event whose name is reserved (see [IsReserved]).
	ErrReservedEvent = newError("sio: reserved event name")
	// ErrInvalidPlaceholder reports a binary placeholder whose num is not an
	// integer in [0, attachments).
	ErrInvalidPlaceholder = newError("sio: invalid attachment placeholder")
)

// kindError is a sentinel that also matches ErrInvalidPacket.
type kindError struct{ msg string }

func newError(msg string) error { return &kindError{msg: msg} }

func (e *kindError) Error() string { return e.msg }

func (e *kindError) Is(target error) bool { return target == ErrInvalidPacket }
