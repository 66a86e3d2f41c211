package sio

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
)

// CheckPlaceholders checks the binary placeholders of a BinaryEvent or
// BinaryAck payload against the number of attachments the packet announced.
// data must be valid JSON (whitespace around it is allowed). A placeholder
// is an object whose "_placeholder" member is true; its "num" member must
// then be an integer N with 0 <= N < attachments. As in socket.io, the last
// of duplicate keys counts, escaped keys count by their text, and objects
// nested inside a placeholder are not looked at (the placeholder replaces
// them). Unlike socket.io, a num that is not an integer is an error.
func CheckPlaceholders(data []byte, attachments int) error {
	i := skipSpace(data, 0)
	end, code := scanDocument(data[i:])
	if code != scanOK {
		return jsonError("check placeholders", i+end, code)
	}
	return checkPlaceholders(data[i:i+end], max(attachments, 0))
}

// Keys of interest in an object, and kinds of member values.
const (
	keyOther = iota
	keyPlaceholder
	keyNum
)

// phFrame is the state of one open container during checkPlaceholders.
type phFrame struct {
	object      bool
	wantKey     bool   // the next string is a key
	key         uint8  // the key whose value comes next
	placeholder bool   // "_placeholder" is true
	num         []byte // raw "num" when it is a number, else nil
	err         error  // first error below this container
}

// checkPlaceholders walks b, one valid JSON value, token by token.
func checkPlaceholders(b []byte, attachments int) error {
	var buf [16]phFrame
	stack := buf[:0]
	var rootErr error
	// setValue records a member value of the innermost object.
	setValue := func(isTrue bool, num []byte) {
		if len(stack) == 0 {
			return
		}
		f := &stack[len(stack)-1]
		if !f.object {
			return
		}
		switch f.key {
		case keyPlaceholder:
			f.placeholder = isTrue
		case keyNum:
			f.num = num
		}
	}
	for i := 0; i < len(b); {
		switch c := b[i]; c {
		case ' ', '\t', '\n', '\r', ':':
			i++
		case ',':
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].wantKey = true
			}
			i++
		case '{', '[':
			setValue(false, nil)
			stack = append(stack, phFrame{object: c == '{', wantKey: c == '{'})
			i++
		case '}', ']':
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			err := f.err
			if f.object && f.placeholder {
				err = checkNum(f.num, attachments)
			}
			if len(stack) == 0 {
				rootErr = err
			} else if p := &stack[len(stack)-1]; p.err == nil {
				p.err = err
			}
			i++
		case '"':
			end, _ := scanString(b, i)
			if f := len(stack) - 1; f >= 0 && stack[f].wantKey {
				stack[f].key = classifyKey(b[i+1 : end-1])
				stack[f].wantKey = false
			} else {
				setValue(false, nil)
			}
			i = end
		case 't':
			setValue(true, nil)
			i += len("true")
		case 'f':
			setValue(false, nil)
			i += len("false")
		case 'n':
			setValue(false, nil)
			i += len("null")
		default:
			end, _ := scanNumber(b, i)
			setValue(false, b[i:end])
			i = end
		}
	}
	return rootErr
}

func classifyKey(raw []byte) uint8 {
	if bytes.IndexByte(raw, '\\') >= 0 {
		if len(raw) > len("_placeholder")*6 {
			return keyOther
		}
		var buf [len("_placeholder") * 6]byte
		raw = appendUnescaped(buf[:0], raw)
	}
	switch string(raw) {
	case "_placeholder":
		return keyPlaceholder
	case "num":
		return keyNum
	}
	return keyOther
}

// checkNum checks the raw num of a placeholder.
func checkNum(num []byte, attachments int) error {
	if num == nil {
		return fmt.Errorf("failed to check placeholders: placeholder without a numeric num: %w", ErrInvalidPlaceholder)
	}
	var ok bool
	if digits := bytes.TrimPrefix(num, []byte{'-'}); len(digits) < 10 && bytes.IndexAny(num, ".eE") < 0 {
		// A short integer literal ("-0" is 0, as in JavaScript).
		n := 0
		for _, c := range digits {
			n = n*10 + int(c-'0')
		}
		ok = (n == 0 || num[0] != '-') && n < attachments
	} else {
		f, err := strconv.ParseFloat(string(num), 64)
		ok = err == nil && f == math.Trunc(f) && f >= 0 && f < float64(attachments)
	}
	if !ok {
		return fmt.Errorf("failed to check placeholders: num %s is not an integer in [0, %d): %w", num, attachments, ErrInvalidPlaceholder)
	}
	return nil
}
