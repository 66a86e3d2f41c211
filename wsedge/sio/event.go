package sio

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
)

// IsReserved reports whether name is an event name Socket.IO reserves:
// connect, connect_error, disconnect, disconnecting, newListener or
// removeListener. [Decode] rejects events carrying one; a server must not
// emit one either.
func IsReserved(name string) bool {
	switch name {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return true
	}
	return false
}

// reservedName reports whether the raw content of a valid JSON string (what
// lies between its quotes) decodes to a reserved name.
func reservedName(raw []byte) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return IsReserved(string(raw)) // no allocation: the conversion does not escape
	}
	// Every reserved name is at most 14 ASCII characters, each at most 6
	// bytes escaped.
	if len(raw) > 14*6 {
		return false
	}
	var buf [14 * 6]byte
	return IsReserved(string(appendUnescaped(buf[:0], raw)))
}

// SplitEvent splits an event payload, a JSON array whose first element is
// the event name, into the name and the JSON array of the other elements:
// `["a",1,{"b":2}]` gives "a" and `[1,{"b":2}]`. The elements keep their
// bytes exactly, and so does whitespace between them; whitespace around the
// arguments is dropped. args is a new slice, never nil: `[]` when there are
// none.
//
// The whole of data is validated. The name is the string's text, or, for a
// number (socket.io accepts one), the string JavaScript would make of it:
// `[1e21]` gives "1e+21". SplitEvent does not reject reserved names; Decode
// does.
func SplitEvent(data []byte) (name string, args []byte, err error) {
	// One pass validates the whole document; then only the name is read
	// again, and the arguments are whatever lies between it and the ']'.
	i := skipSpace(data, 0)
	end, code := scanDocument(data[i:])
	if code != scanOK {
		return "", nil, jsonError("split event", i+end, code)
	}
	end += i // just past the value
	if data[i] != '[' {
		return "", nil, fmt.Errorf("failed to split event: payload is not an array: %w", ErrInvalidPayload)
	}
	j := skipSpace(data, i+1)
	switch c := data[j]; {
	case c == '"':
		e, _ := scanString(data, j)
		raw := data[j+1 : e-1]
		if bytes.IndexByte(raw, '\\') < 0 {
			name = string(raw)
		} else {
			name = string(appendUnescaped(make([]byte, 0, len(raw)), raw))
		}
		j = e
	case c == '-' || isDigit(c):
		e, _ := scanNumber(data, j)
		name = jsNumber(data[j:e])
		j = e
	case c == ']':
		return "", nil, fmt.Errorf("failed to split event: empty array: %w", ErrInvalidPayload)
	default:
		return "", nil, fmt.Errorf("failed to split event: event name is neither a string nor a number: %w", ErrInvalidPayload)
	}
	if j = skipSpace(data, j); data[j] == ']' {
		return name, []byte{'[', ']'}, nil
	}
	// data[j] is the ',' after the name and data[end-1] the closing ']'.
	argsStart, argsEnd := skipSpace(data, j+1), end-1
	for isSpace(data[argsEnd-1]) {
		argsEnd--
	}
	rest := data[argsStart:argsEnd]
	args = make([]byte, 0, len(rest)+2)
	args = append(args, '[')
	args = append(args, rest...)
	return name, append(args, ']'), nil
}

// JoinEvent appends the event payload `["name",<elements of args>]` to dst
// and returns the extended slice: the inverse of [SplitEvent]. The name is
// written as JavaScript's JSON.stringify writes a string. args is a JSON
// array (nil or empty means no arguments); its elements are copied byte for
// byte and are not validated. If args lacks its brackets, its bytes are
// taken as the element list.
func JoinEvent(dst []byte, name string, args []byte) []byte {
	dst = append(dst, '[')
	dst = appendQuoted(dst, name)
	if inner := arrayInner(args); len(inner) > 0 {
		dst = append(dst, ',')
		dst = append(dst, inner...)
	}
	return append(dst, ']')
}

// AppendEvent appends the packet of an event to dst in one pass: EVENT
// (BINARY_EVENT with attachments > 0) for namespace nsp, ack id id (NoID
// for none), data `["name",<elements of args>,<last>]`, where last, when
// not empty, is one more element as raw JSON (an offset). It is [Append] of
// a packet whose data is [JoinEvent] of [AppendArg](args, last), without
// their intermediate slices; args is taken as JoinEvent takes it.
func AppendEvent(dst []byte, nsp string, id int64, attachments int, name string, args, last []byte) []byte {
	t := Event
	if attachments > 0 {
		t = BinaryEvent
	}
	dst = strconv.AppendUint(dst, uint64(t), 10)
	if attachments > 0 {
		dst = strconv.AppendInt(dst, int64(attachments), 10)
		dst = append(dst, '-')
	}
	if nsp != "" && nsp != "/" {
		dst = append(dst, nsp...)
		dst = append(dst, ',')
	}
	if id >= 0 {
		dst = strconv.AppendInt(dst, id, 10)
	}
	dst = append(dst, '[')
	dst = appendQuoted(dst, name)
	if inner := arrayInner(args); len(inner) > 0 {
		dst = append(dst, ',')
		dst = append(dst, inner...)
	}
	if len(last) > 0 {
		dst = append(dst, ',')
		dst = append(dst, last...)
	}
	return append(dst, ']')
}

// AppendArg returns a new JSON array: the elements of array followed by
// rawJSON, copied byte for byte (it is how an offset string is added for
// connection state recovery). array is not modified and not validated; nil,
// empty and `[]` give `[rawJSON]`. If array lacks its brackets, its bytes
// are taken as the element list.
func AppendArg(array []byte, rawJSON []byte) []byte {
	inner := arrayInner(array)
	out := make([]byte, 0, len(inner)+len(rawJSON)+3)
	out = append(out, '[')
	if len(inner) > 0 {
		out = append(out, inner...)
		out = append(out, ',')
	}
	out = append(out, rawJSON...)
	return append(out, ']')
}

// arrayInner returns what lies between the brackets of a JSON array,
// without surrounding whitespace.
func arrayInner(array []byte) []byte {
	b := trimSpace(array)
	if len(b) > 0 && b[0] == '[' {
		b = b[1:]
	}
	if len(b) > 0 && b[len(b)-1] == ']' {
		b = b[:len(b)-1]
	}
	return trimSpace(b)
}

// Elements returns the elements of the JSON array in array, each exactly as
// written (sub-slices of array, not copies). The whole of array is
// validated; whitespace around it is allowed. An empty array gives an empty,
// non-nil slice.
func Elements(array []byte) ([][]byte, error) {
	i := skipSpace(array, 0)
	a, isArray := openArray(array, i)
	if !isArray {
		if end, code := scanDocument(array[i:]); code != scanOK {
			return nil, jsonError("read array elements", i+end, code)
		}
		return nil, fmt.Errorf("failed to read array elements: not an array: %w", ErrInvalidPayload)
	}
	elems := make([][]byte, 0, 4)
	for {
		start, end, ok, code := a.next()
		if code != scanOK {
			return nil, jsonError("read array elements", end, code)
		}
		if !ok {
			break
		}
		elems = append(elems, array[start:end:end])
	}
	if i := skipSpace(array, a.i); i != len(array) {
		return nil, jsonError("read array elements", i, scanTrailing)
	}
	return elems, nil
}

// jsNumber returns what JavaScript's String() makes of the number a valid
// JSON number literal parses to: the shortest digits that round-trip, in
// plain notation for exponents in [-7, 21) and in e-notation otherwise, with
// "Infinity" for out-of-range literals and "0" for negative zero.
func jsNumber(raw []byte) string {
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !math.IsInf(f, 0) && f != 0 {
		return string(raw) // not reached for valid JSON numbers
	}
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], math.Abs(f), 'e', -1, 64) // d[.ddd]e±XX
	mark := bytes.IndexByte(e, 'e')
	exp, _ := strconv.Atoi(string(e[mark+1:]))
	digits := make([]byte, 0, mark)
	for _, c := range e[:mark] {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	k, n := len(digits), exp+1 // value = 0.digits × 10^n
	out := make([]byte, 0, 32)
	if f < 0 {
		out = append(out, '-')
	}
	switch {
	case k <= n && n <= 21:
		out = append(out, digits...)
		for range n - k {
			out = append(out, '0')
		}
	case 0 < n && n <= 21:
		out = append(out, digits[:n]...)
		out = append(out, '.')
		out = append(out, digits[n:]...)
	case -6 < n && n <= 0:
		out = append(out, '0', '.')
		for range -n {
			out = append(out, '0')
		}
		out = append(out, digits...)
	default:
		out = append(out, digits[0])
		if k > 1 {
			out = append(out, '.')
			out = append(out, digits[1:]...)
		}
		out = append(out, 'e')
		if n-1 >= 0 {
			out = append(out, '+')
		}
		out = strconv.AppendInt(out, int64(n-1), 10)
	}
	return string(out)
}
