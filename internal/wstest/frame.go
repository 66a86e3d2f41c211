package wstest

import (
	"encoding/binary"
	"fmt"
	"io"
)

// ReadServerFrame reads one unmasked, unfragmented frame as a server sends
// it, for tests that speak raw WebSocket to check exactly what arrives
// (close codes after data, frames never cut short).
func ReadServerFrame(r io.Reader) (opcode byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, fmt.Errorf("reading a frame: %w", err)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, fmt.Errorf("reading a frame length: %w", err)
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, fmt.Errorf("reading a frame length: %w", err)
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, fmt.Errorf("reading a %d-byte payload: %w", n, err)
	}
	return h[0] & 0x0f, payload, nil
}
