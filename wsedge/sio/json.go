package sio

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds a validating JSON scanner. It accepts exactly what
// encoding/json's Valid accepts (RFC 8259, at most maxDepth nested arrays and
// objects) minus invalid UTF-8, which JavaScript's JSON.parse never sees
// (browsers fail the WebSocket on it) and which must therefore never be
// relayed. It never allocates unless nesting is deeper than 64 levels.

// maxDepth is the deepest nesting accepted, the same limit as encoding/json.
const maxDepth = 10000

// scanCode says why scanning stopped; scanOK means it did not fail.
type scanCode uint8

const (
	scanOK scanCode = iota
	scanEOF
	scanUnexpected
	scanBadEscape
	scanControl
	scanBadUTF8
	scanTooDeep
	scanTrailing
)

func (c scanCode) String() string {
	switch c {
	case scanOK:
		return "ok"
	case scanEOF:
		return "unexpected end"
	case scanUnexpected:
		return "unexpected byte"
	case scanBadEscape:
		return "invalid escape"
	case scanControl:
		return "control character in string"
	case scanBadUTF8:
		return "invalid UTF-8"
	case scanTooDeep:
		return "nesting too deep"
	case scanTrailing:
		return "data after the value"
	}
	return "scanCode(" + strconv.Itoa(int(c)) + ")"
}

// plain marks the bytes a string may hold without further checks.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// trimSpace removes JSON whitespace from both ends of b.
func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// scanString validates the string starting at b[i] == '"' and returns the
// index just past its closing quote. On failure the index is where it failed.
func scanString(b []byte, i int) (int, scanCode) {
	i++
	for i < len(b) {
		c := b[i]
		if plain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			return i + 1, scanOK
		case c == '\\':
			if i+1 >= len(b) {
				return len(b), scanEOF
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return len(b), scanEOF
				}
				if _, ok := hex4(b[i+2 : i+6]); !ok {
					return i, scanBadEscape
				}
				i += 6
			default:
				return i, scanBadEscape
			}
		case c < 0x20:
			return i, scanControl
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				return i, scanBadUTF8
			}
			i += size
		}
	}
	return i, scanEOF
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// scanNumber validates the number starting at b[i] ('-' or a digit).
func scanNumber(b []byte, i int) (int, scanCode) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, scanEOF
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return i, scanUnexpected
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) {
			return i, scanEOF
		}
		if !isDigit(b[i]) {
			return i, scanUnexpected
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) {
			return i, scanEOF
		}
		if !isDigit(b[i]) {
			return i, scanUnexpected
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	return i, scanOK
}

func scanLiteral(b []byte, i int, lit string) (int, scanCode) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(b) {
			return i + k, scanEOF
		}
		if b[i+k] != lit[k] {
			return i + k, scanUnexpected
		}
	}
	return i + len(lit), scanOK
}

// scanKey validates `"key" :` plus the whitespace after the colon, starting
// at b[i], and returns the index of the member's value.
func scanKey(b []byte, i int) (int, scanCode) {
	if i >= len(b) {
		return i, scanEOF
	}
	if b[i] != '"' {
		return i, scanUnexpected
	}
	i, code := scanString(b, i)
	if code != scanOK {
		return i, code
	}
	i = skipSpace(b, i)
	if i >= len(b) {
		return i, scanEOF
	}
	if b[i] != ':' {
		return i, scanUnexpected
	}
	return skipSpace(b, i+1), scanOK
}

// nesting records the kind of each open container, one bit per level: the
// first 64 levels in a word, deeper ones in a slice allocated only if needed.
type nesting struct {
	objects uint64   // bit d set: the container at depth d is an object
	deep    []uint64 // the same for depths 64 and over
	depth   int      // open containers
}

func (n *nesting) push(object bool) {
	if n.depth < 64 {
		if object {
			n.objects |= 1 << n.depth
		} else {
			n.objects &^= 1 << n.depth
		}
	} else {
		d := n.depth - 64
		w, bit := d/64, uint(d%64)
		for len(n.deep) <= w {
			n.deep = append(n.deep, 0)
		}
		if object {
			n.deep[w] |= 1 << bit
		} else {
			n.deep[w] &^= 1 << bit
		}
	}
	n.depth++
}

// inObject reports whether the innermost open container is an object.
func (n *nesting) inObject() bool {
	d := n.depth - 1
	if d < 64 {
		return n.objects&(1<<d) != 0
	}
	d -= 64
	return n.deep[d/64]&(1<<uint(d%64)) != 0
}

// scanValue validates the JSON value starting exactly at b[i] (no leading
// whitespace) with at most limit levels of nesting and returns the index
// just past it. On failure the index is where it failed. It is iterative,
// so hostile nesting costs a bit per level, not a stack frame.
func scanValue(b []byte, i, limit int) (int, scanCode) {
	var (
		nest nesting
		code scanCode
	)
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return i, scanEOF
		}
		switch c := b[i]; c {
		case '{', '[':
			if nest.depth >= limit {
				return i, scanTooDeep
			}
			if i = skipSpace(b, i+1); i >= len(b) {
				return i, scanEOF
			}
			if c == '{' {
				if b[i] == '}' {
					i++
					break
				}
				nest.push(true)
				if i, code = scanKey(b, i); code != scanOK {
					return i, code
				}
				continue
			}
			if b[i] == ']' {
				i++
				break
			}
			nest.push(false)
			continue
		case '"':
			i, code = scanString(b, i)
		case 't':
			i, code = scanLiteral(b, i, "true")
		case 'f':
			i, code = scanLiteral(b, i, "false")
		case 'n':
			i, code = scanLiteral(b, i, "null")
		default:
			if c != '-' && !isDigit(c) {
				return i, scanUnexpected
			}
			i, code = scanNumber(b, i)
		}
		if code != scanOK {
			return i, code
		}
		// A value ended at b[i]: close containers until another value is due.
		for {
			if nest.depth == 0 {
				return i, scanOK
			}
			if i = skipSpace(b, i); i >= len(b) {
				return i, scanEOF
			}
			object := nest.inObject()
			c := b[i]
			if c == ',' {
				i = skipSpace(b, i+1)
				if object {
					if i, code = scanKey(b, i); code != scanOK {
						return i, code
					}
				}
				break
			}
			if (object && c == '}') || (!object && c == ']') {
				i++
				nest.depth--
				continue
			}
			return i, scanUnexpected
		}
	}
}

// scanDocument validates that b is one JSON value, with no whitespace before
// it and only whitespace after it, and returns where the value ends.
func scanDocument(b []byte) (int, scanCode) {
	end, code := scanValue(b, 0, maxDepth)
	if code != scanOK {
		return end, code
	}
	if i := skipSpace(b, end); i != len(b) {
		return i, scanTrailing
	}
	return end, scanOK
}

// arrayScanner walks the elements of a JSON array, validating each one.
type arrayScanner struct {
	b    []byte
	i    int // where to read next
	n    int // elements returned so far
	done bool
}

// openArray starts walking the array whose '[' should be at b[i]; ok is
// false when there is none.
func openArray(b []byte, i int) (a arrayScanner, ok bool) {
	if i >= len(b) || b[i] != '[' {
		return arrayScanner{}, false
	}
	return arrayScanner{b: b, i: i + 1}, true
}

// next returns the bounds of the next element, or ok false once the array
// has closed (a.i is then just past its ']'). When code is not scanOK, end
// is where scanning failed.
func (a *arrayScanner) next() (start, end int, ok bool, code scanCode) {
	if a.done {
		return a.i, a.i, false, scanOK
	}
	b := a.b
	i := skipSpace(b, a.i)
	if i >= len(b) {
		return i, i, false, scanEOF
	}
	switch {
	case b[i] == ']':
		a.i, a.done = i+1, true
		return a.i, a.i, false, scanOK
	case a.n > 0 && b[i] != ',':
		return i, i, false, scanUnexpected
	case a.n > 0:
		i = skipSpace(b, i+1)
	}
	end, code = scanValue(b, i, maxDepth-1)
	if code != scanOK {
		return i, end, false, code
	}
	a.i = end
	a.n++
	return i, end, true, scanOK
}

// appendUnescaped appends the text of a JSON string to dst. raw is what lies
// between the quotes of a string that scanString accepted. A \u escape of an
// unpaired surrogate becomes U+FFFD, as with encoding/json.
func appendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		switch e := raw[i+1]; e {
		case 'u':
			r, _ := hex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2, _ = hex4(raw[i+2:])
				}
				if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
					r = pair
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
		i += 2
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendQuoted appends s as a JSON string the way JavaScript's
// JSON.stringify writes it: only '"', '\\' and control characters are
// escaped (with the short forms where they exist, lowercase hex otherwise).
// Invalid UTF-8 becomes \ufffd.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
