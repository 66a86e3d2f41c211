package sio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// decodeAny decodes b with encoding/json, keeping numbers as json.Number.
func decodeAny(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// refDecode is a deliberately naive model of Decode built on encoding/json:
// it must accept exactly the packets Decode accepts, and decode them alike.
func refDecode(text []byte) (Packet, bool) {
	s := string(text)
	if s == "" || s[0] < '0' || s[0] > '6' {
		return Packet{}, false
	}
	p := Packet{Type: Type(s[0] - '0'), Namespace: "/", ID: NoID}
	s = s[1:]
	if p.Type == BinaryEvent || p.Type == BinaryAck {
		dash := strings.IndexByte(s, '-')
		if dash < 1 || strings.Trim(s[:dash], "0123456789") != "" {
			return Packet{}, false
		}
		n, err := strconv.Atoi(s[:dash])
		if err != nil || n < 1 || n > DefaultMaxAttachments {
			return Packet{}, false
		}
		p.Attachments, s = n, s[dash+1:]
	}
	if strings.HasPrefix(s, "/") {
		ns, rest, _ := strings.Cut(s, ",")
		if !utf8.ValidString(ns) {
			return Packet{}, false
		}
		p.Namespace, s = ns, rest
	}
	if digits := len(s) - len(strings.TrimLeft(s, "0123456789")); digits > 0 {
		id, err := strconv.ParseInt(strings.TrimLeft(s[:digits], "0")+"0", 10, 64)
		if err != nil || id/10 > MaxID {
			return Packet{}, false
		}
		p.ID, s = id/10, s[digits:]
	}
	if s == "" {
		return p, p.Type == Connect || p.Type == Disconnect
	}
	p.Data = []byte(s)
	if isSpace(s[0]) || !utf8.ValidString(s) || !json.Valid(p.Data) {
		return Packet{}, false
	}
	v, err := decodeAny(p.Data)
	if err != nil {
		return Packet{}, false
	}
	switch p.Type {
	case Connect:
		_, ok := v.(map[string]any)
		return p, ok
	case ConnectError:
		_, isMap := v.(map[string]any)
		_, isString := v.(string)
		return p, isMap || isString
	case Event, BinaryEvent:
		arr, ok := v.([]any)
		if !ok || len(arr) == 0 {
			return Packet{}, false
		}
		switch name := arr[0].(type) {
		case json.Number:
			return p, true
		case string:
			return p, !IsReserved(name)
		}
		return Packet{}, false
	case Ack, BinaryAck:
		_, ok := v.([]any)
		return p, ok
	}
	return Packet{}, false
}

// refCheckPlaceholders models CheckPlaceholders on encoding/json's decoding
// (last duplicate key wins, escapes decoded), like socket.io's
// reconstructPacket but rejecting non-integer nums.
func refCheckPlaceholders(v any, attachments int) error {
	switch v := v.(type) {
	case map[string]any:
		if v["_placeholder"] == true {
			n, ok := v["num"].(json.Number)
			if !ok {
				return errors.New("no numeric num")
			}
			f, err := strconv.ParseFloat(string(n), 64)
			if err != nil || f != math.Trunc(f) || f < 0 || f >= float64(attachments) {
				return fmt.Errorf("num %s out of range", n)
			}
			return nil
		}
		var first error
		for _, e := range v {
			if err := refCheckPlaceholders(e, attachments); err != nil && first == nil {
				first = err
			}
		}
		return first
	case []any:
		for _, e := range v {
			if err := refCheckPlaceholders(e, attachments); err != nil {
				return err
			}
		}
	}
	return nil
}

func addPacketSeeds(f *testing.F) {
	for _, tc := range specPackets {
		f.Add([]byte(tc.text))
	}
	for _, tc := range decodeErrors {
		f.Add([]byte(tc.text))
	}
}

func FuzzDecode(f *testing.F) {
	addPacketSeeds(f)
	f.Fuzz(func(t *testing.T, text []byte) {
		p, err := Decode(text)
		ref, refOK := refDecode(text)
		if err != nil {
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("Decode(%q) error %v does not match ErrInvalidPacket", text, err)
			}
			if refOK {
				t.Fatalf("Decode(%q) = %v, but the model accepts it as %+v", text, err, ref)
			}
			return
		}
		if !refOK {
			t.Fatalf("Decode(%q) = %+v, but the model rejects it", text, p)
		}
		if !samePacket(p, ref) {
			t.Fatalf("Decode(%q) = %+v, model %+v", text, p, ref)
		}

		// Field invariants.
		if !p.Type.Valid() || !strings.HasPrefix(p.Namespace, "/") || strings.Contains(p.Namespace, ",") {
			t.Fatalf("Decode(%q): bad type or namespace in %+v", text, p)
		}
		if p.ID < NoID || p.ID > MaxID {
			t.Fatalf("Decode(%q): id %d", text, p.ID)
		}
		if p.Type.Binary() != (p.Attachments > 0) || p.Attachments > DefaultMaxAttachments {
			t.Fatalf("Decode(%q): attachments %d", text, p.Attachments)
		}
		if p.Data != nil && (!bytes.HasSuffix(text, p.Data) || &p.Data[0] != &text[len(text)-len(p.Data)]) {
			t.Fatalf("Decode(%q): Data %q is not the tail of the text", text, p.Data)
		}

		// Re-encoding is canonical and decodes to the same packet.
		enc := Append(nil, p)
		p2, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Append(Decode(%q))) = Decode(%q): %v", text, enc, err)
		}
		if !samePacket(p, p2) {
			t.Fatalf("Decode(%q) = %+v, after re-encoding as %q: %+v", text, p, enc, p2)
		}
		if enc2 := Append(nil, p2); !bytes.Equal(enc, enc2) {
			t.Fatalf("Append is not stable: %q then %q", enc, enc2)
		}

		// Event helpers agree with the decoder.
		switch p.Type {
		case Event, BinaryEvent:
			name, args, err := SplitEvent(p.Data)
			if err != nil {
				t.Fatalf("SplitEvent(%q) of a decoded event: %v", p.Data, err)
			}
			elems, err := Elements(p.Data)
			if err != nil || len(elems) == 0 {
				t.Fatalf("Elements(%q) = %q, %v", p.Data, elems, err)
			}
			argElems, err := Elements(args)
			if err != nil || !sameElements(argElems, elems[1:]) {
				t.Fatalf("Elements(args %q) = %q, %v; want %q", args, argElems, err, elems[1:])
			}
			re := JoinEvent(Append(nil, Packet{Type: p.Type, Namespace: p.Namespace, ID: p.ID, Attachments: p.Attachments}), name, args)
			if q, err := Decode(re); err != nil || q.Namespace != p.Namespace || q.ID != p.ID {
				t.Fatalf("Decode(%q) of a re-joined event = %+v, %v", re, q, err)
			}
		case Ack, BinaryAck:
			if _, err := Elements(p.Data); err != nil {
				t.Fatalf("Elements(%q) of a decoded ack: %v", p.Data, err)
			}
		}
		if p.Type.Binary() {
			v, _ := decodeAny(p.Data)
			got := CheckPlaceholders(p.Data, p.Attachments)
			if want := refCheckPlaceholders(v, p.Attachments); (got == nil) != (want == nil) {
				t.Fatalf("CheckPlaceholders(%q, %d) = %v, model %v", p.Data, p.Attachments, got, want)
			}
		}
	})
}

func sameElements(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func FuzzSplitEvent(f *testing.F) {
	for _, tc := range specPackets {
		if tc.want.Data != nil {
			f.Add(tc.want.Data)
		}
	}
	for _, s := range []string{
		`["a",1,{"b":2}]`, `[1,"a",{}]`, `[1e400]`, `[-0.0e-0]`, `["a\"b\\c\/d\u00e9\ud83d\ude00\n",1]`,
		`["\ud800x"]`, ` ["a" , 1 ] `, `[]`, `[null]`, `["a",]`, `["a"`, `{}`, `"a"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		name, args, err := SplitEvent(data)

		// The model: valid UTF-8 JSON, an array, first element a string or number.
		var arr []any
		modelOK := false
		if utf8.Valid(data) && json.Valid(data) {
			v, _ := decodeAny(data)
			if a, ok := v.([]any); ok && len(a) > 0 {
				switch a[0].(type) {
				case string, json.Number:
					arr, modelOK = a, true
				}
			}
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("SplitEvent(%q) error %v does not match ErrInvalidPacket", data, err)
			}
			if modelOK {
				t.Fatalf("SplitEvent(%q) = %v, but it is a valid event payload", data, err)
			}
			return
		}
		if !modelOK {
			t.Fatalf("SplitEvent(%q) = %q, %q; want an error", data, name, args)
		}
		switch n := arr[0].(type) {
		case string:
			if name != n {
				t.Fatalf("SplitEvent(%q) name = %q, encoding/json says %q", data, name, n)
			}
		case json.Number:
			want, _ := strconv.ParseFloat(string(n), 64)
			got, perr := strconv.ParseFloat(name, 64)
			switch name {
			case "Infinity":
				got, perr = math.Inf(1), nil
			case "-Infinity":
				got, perr = math.Inf(-1), nil
			}
			if perr != nil || got != want {
				t.Fatalf("SplitEvent(%q) name = %q, which is not the number %s", data, name, n)
			}
		}

		// Arguments are the remaining elements, byte for byte.
		elems, err := Elements(data)
		if err != nil {
			t.Fatalf("Elements(%q): %v", data, err)
		}
		argElems, err := Elements(args)
		if err != nil || !sameElements(argElems, elems[1:]) {
			t.Fatalf("Elements(args %q) = %q, %v; want %q", args, argElems, err, elems[1:])
		}

		// JoinEvent inverts SplitEvent.
		joined := JoinEvent(nil, name, args)
		name2, args2, err := SplitEvent(joined)
		if err != nil || name2 != name || !bytes.Equal(args2, args) {
			t.Fatalf("SplitEvent(JoinEvent(%q, %q) = %q) = %q, %q, %v", name, args, joined, name2, args2, err)
		}
		if _, err := Decode(append([]byte("2"), joined...)); (err != nil) != IsReserved(name) {
			t.Fatalf("Decode of event %q: %v", joined, err)
		}

		// AppendArg adds exactly one element.
		withArg := AppendArg(args, []byte(`"off"`))
		more, err := Elements(withArg)
		if err != nil || !sameElements(more, append(elems[1:len(elems):len(elems)], []byte(`"off"`))) {
			t.Fatalf("Elements(AppendArg(%q)) = %q, %v", args, more, err)
		}
	})
}

// FuzzValid checks the JSON scanner against encoding/json plus UTF-8.
func FuzzValid(f *testing.F) {
	for _, s := range jsonCorpus {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := validJSON(b)
		want := json.Valid(b) && utf8.Valid(b)
		if got != want {
			t.Fatalf("valid(%q) = %v, encoding/json + UTF-8 say %v", b, got, want)
		}
		elems, err := Elements(b)
		if got {
			v, _ := decodeAny(b)
			arr, isArray := v.([]any)
			if isArray != (err == nil) || (isArray && len(elems) != len(arr)) {
				t.Fatalf("Elements(%q) = %d elements, %v; encoding/json: %v", b, len(elems), err, v)
			}
		} else if err == nil {
			t.Fatalf("Elements(%q) accepted invalid JSON", b)
		}
	})
}

func FuzzCheckPlaceholders(f *testing.F) {
	for _, s := range []string{
		`["baz",{"_placeholder":true,"num":0}]`,
		`["a",{"_placeholder":true,"num":0,"x":{"_placeholder":true,"num":9}}]`,
		`["a",{"_placeholder":true,"num":0,"num":3}]`,
		`["a",{"_placeholde\u0072":true,"num":4}]`,
		`["a",{"_placeholder":true,"num":-0}]`,
		`["a",{"_placeholder":true,"num":0.5}]`,
		`[{"_placeholder":true,"num":1e0},{"x":[{"_placeholder":false}]}]`,
	} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		attachments := int(n % 16)
		got := CheckPlaceholders(data, attachments)
		if !utf8.Valid(data) || !json.Valid(data) {
			if got == nil {
				t.Fatalf("CheckPlaceholders(%q) accepted invalid JSON", data)
			}
			return
		}
		v, err := decodeAny(data)
		if err != nil {
			t.Skip() // valid but not decodable as a whole by encoding/json
		}
		want := refCheckPlaceholders(v, attachments)
		if (got == nil) != (want == nil) {
			t.Fatalf("CheckPlaceholders(%q, %d) = %v, model %v", data, attachments, got, want)
		}
		if got != nil && !errors.Is(got, ErrInvalidPlaceholder) {
			t.Fatalf("CheckPlaceholders(%q) = %v, want ErrInvalidPlaceholder", data, got)
		}
	})
}
