package outq

// WebSocket opcodes used by frames built here (RFC 6455 section 5.2).
const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

// Frame is one server-to-client WebSocket message, encoded once and shared
// read-only by every connection it is queued on. It is safe for concurrent use.
type Frame struct {
	payload []byte
	hdr     [10]byte
	hdrLen  uint8
	binary  bool
}

// NewFrame returns a final, unmasked data frame carrying payload. The frame
// keeps payload: the caller must not modify it afterwards.
func NewFrame(binary bool, payload []byte) *Frame {
	f := MakeFrame(binary, payload)
	return &f
}

// MakeFrame is NewFrame as a value, for a producer that allocates many
// frames at once (a replay's frames, an array per group). Queue a pointer
// to it, never a copy, and do not change it once queued.
func MakeFrame(binary bool, payload []byte) Frame {
	op := byte(opText)
	if binary {
		op = opBinary
	}
	f := makeFrame(op, payload)
	f.binary = binary
	return f
}

// NewPingFrame returns a ping control frame (payload at most 125 bytes).
func NewPingFrame(payload []byte) *Frame {
	if len(payload) > 125 {
		payload = payload[:125]
	}
	return newFrame(opPing, payload)
}

// NewPongFrame returns a pong control frame answering a ping's payload.
func NewPongFrame(payload []byte) *Frame {
	if len(payload) > 125 {
		payload = payload[:125]
	}
	return newFrame(opPong, payload)
}

// NewCloseFrame returns a close control frame with a status code and a reason
// trimmed to fit the 125-byte control frame limit.
func NewCloseFrame(code uint16, reason string) *Frame {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	p := make([]byte, 2+len(reason))
	p[0], p[1] = byte(code>>8), byte(code)
	copy(p[2:], reason)
	return newFrame(opClose, p)
}

func newFrame(op byte, payload []byte) *Frame {
	f := makeFrame(op, payload)
	return &f
}

func makeFrame(op byte, payload []byte) Frame {
	f := Frame{payload: payload}
	f.hdr[0] = 0x80 | op
	n := len(payload)
	switch {
	case n < 126:
		f.hdr[1] = byte(n)
		f.hdrLen = 2
	case n <= 0xFFFF:
		f.hdr[1] = 126
		f.hdr[2], f.hdr[3] = byte(n>>8), byte(n)
		f.hdrLen = 4
	default:
		f.hdr[1] = 127
		for i := 0; i < 8; i++ {
			f.hdr[2+i] = byte(uint64(n) >> (56 - 8*i))
		}
		f.hdrLen = 10
	}
	return f
}

// Payload returns the message payload. Callers must not modify it.
func (f *Frame) Payload() []byte { return f.payload }

// Binary reports whether the frame is a binary data frame.
func (f *Frame) Binary() bool { return f.binary }

// WSHeader returns the frame's WebSocket header bytes.
func (f *Frame) WSHeader() []byte { return f.hdr[:f.hdrLen] }

// WSBytes returns header and payload as one new slice; the queue itself
// writes header and payload without joining them.
func (f *Frame) WSBytes() []byte {
	b := make([]byte, 0, int(f.hdrLen)+len(f.payload))
	return append(append(b, f.WSHeader()...), f.payload...)
}

// size is what a frame counts against a queue's byte bound.
func (f *Frame) size() int { return int(f.hdrLen) + len(f.payload) }

// Size is what the frame counts against a queue's byte bound (MaxBytes).
func (f *Frame) Size() int { return f.size() }
