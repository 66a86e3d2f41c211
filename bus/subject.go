package bus

import "strings"

// MaxNameLen bounds every client-chosen name (channel, namespace, room,
// event) so that no subject can approach the server's 4096-byte limit.
const MaxNameLen = 255

// emptyToken stands for the empty name. EncodeToken never produces '~' for
// any other name because it always escapes '~'.
const emptyToken = "~"

const hexDigits = "0123456789ABCDEF"

func passes(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// IsPlain reports whether name is non-empty and made only of bytes that
// EncodeToken passes through unchanged: its own subject token.
func IsPlain(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !passes(name[i]) {
			return false
		}
	}
	return true
}

// EncodeToken turns a client-chosen name into exactly one NATS subject token.
// Bytes A-Z a-z 0-9 - _ pass through, every other byte becomes %XX, and the
// empty name becomes "~". Names longer than MaxNameLen are refused.
func EncodeToken(name string) (string, error) {
	if len(name) > MaxNameLen {
		return "", ErrNameTooLong
	}
	if name == "" {
		return emptyToken, nil
	}
	n := 0
	for i := 0; i < len(name); i++ {
		if !passes(name[i]) {
			n++
		}
	}
	if n == 0 {
		return name, nil
	}
	var b strings.Builder
	b.Grow(len(name) + 2*n)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if passes(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xF])
	}
	return b.String(), nil
}

// DecodeToken inverts EncodeToken. It accepts only tokens EncodeToken
// produces (uppercase hex, no escaped pass-through bytes), so every name has
// exactly one token.
func DecodeToken(tok string) (string, error) {
	if tok == emptyToken {
		return "", nil
	}
	if tok == "" {
		return "", ErrBadToken
	}
	if strings.IndexByte(tok, '%') < 0 {
		if !IsPlain(tok) {
			return "", ErrBadToken
		}
		if len(tok) > MaxNameLen {
			return "", ErrNameTooLong
		}
		return tok, nil
	}
	b := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if passes(c) {
			b = append(b, c)
			continue
		}
		if c != '%' || i+2 >= len(tok) {
			return "", ErrBadToken
		}
		hi, lo := unhex(tok[i+1]), unhex(tok[i+2])
		if hi < 0 || lo < 0 {
			return "", ErrBadToken
		}
		v := byte(hi<<4 | lo)
		if passes(v) {
			return "", ErrBadToken
		}
		b = append(b, v)
		i += 2
	}
	if len(b) > MaxNameLen {
		return "", ErrNameTooLong
	}
	return string(b), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// Subject prefixes. Everything sockbus publishes starts with Prefix.
const (
	Prefix     = "sockbus."
	LivePrefix = "sockbus.live."
)

// ChannelSubject is where a plain WebSocket channel's messages are published
// (and stored). tok must come from EncodeToken.
func ChannelSubject(tok string) string { return "sockbus.ws." + tok }

// Live returns the subject JetStream republishes a stored subject to.
func Live(subject string) string { return LivePrefix + strings.TrimPrefix(subject, Prefix) }

// Message headers sockbus sets and reads.
const (
	// HeaderFrom names the connection or socket that sent a message.
	HeaderFrom = "Sockbus-From"
	// HeaderBinary is "1" on a plain WebSocket message sent as a binary frame.
	HeaderBinary = "Sockbus-Binary"
	// HeaderSequence is the stream sequence JetStream adds when it republishes.
	HeaderSequence = "Nats-Sequence"
	// HeaderStream is the stream name JetStream adds when it republishes.
	HeaderStream = "Nats-Stream"
)
