package sio

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSplitEvent(t *testing.T) {
	tests := []struct {
		data, name, args string
	}{
		{`["message-back",1,"2",{"3":[true]}]`, "message-back", `[1,"2",{"3":[true]}]`},
		{`["a",1,{"b":2}]`, "a", `[1,{"b":2}]`},
		{`["foo"]`, "foo", `[]`},
		{`["hey","Jude"]`, "hey", `["Jude"]`},
		{`["auth",{}]`, "auth", `[{}]`},
		{`["baz",{"_placeholder":true,"num":0}]`, "baz", `[{"_placeholder":true,"num":0}]`},
		{`[ "a" , 1 ,2 ] `, "a", `[1 ,2]`},
		{" \n[\"a\"]\t", "a", `[]`},
		{`["a" ]`, "a", `[]`},
		{`["",""]`, "", `[""]`},
		{`["a\"b\\c\/d\u00e9\ud83d\ude00\n",1]`, "a\"b\\c/dé😀\n", `[1]`},
		{`["\ud800x"]`, "\ufffdx", `[]`},
		{`["é€😀",1.50,-0,1e2]`, "é€😀", `[1.50,-0,1e2]`},
		{`["connect"]`, "connect", `[]`}, // reserved names are Decode's business
		{`["a",[1,[2,[3]]],{"k":{"k":{}}}]`, "a", `[[1,[2,[3]]],{"k":{"k":{}}}]`},
		// A number as the name, as JavaScript's String() writes it.
		{`[1,"a",{}]`, "1", `["a",{}]`},
		{`[-0]`, "0", `[]`},
		{`[1.0]`, "1", `[]`},
		{`[1e21]`, "1e+21", `[]`},
		{`[1e400]`, "Infinity", `[]`},
	}
	for _, tc := range tests {
		name, args, err := SplitEvent([]byte(tc.data))
		if err != nil {
			t.Errorf("SplitEvent(%q): %v", tc.data, err)
			continue
		}
		if name != tc.name || string(args) != tc.args {
			t.Errorf("SplitEvent(%q) = %q, %q; want %q, %q", tc.data, name, args, tc.name, tc.args)
		}
	}
}

func TestSplitEventErrors(t *testing.T) {
	tests := []struct {
		data string
		want error
	}{
		{``, ErrInvalidJSON},
		{`[]`, ErrInvalidPayload},
		{`{}`, ErrInvalidPayload},
		{`"a"`, ErrInvalidPayload},
		{`[null]`, ErrInvalidPayload},
		{`[true,"a"]`, ErrInvalidPayload},
		{`[["a"]]`, ErrInvalidPayload},
		{`[{"a":1}]`, ErrInvalidPayload},
		{`["a"`, ErrInvalidJSON},
		{`["a",]`, ErrInvalidJSON},
		{`["a"]]`, ErrInvalidJSON},
		{`["a"] x`, ErrInvalidJSON},
		{`["a",{]`, ErrInvalidJSON},
		{"[\"a\xff\"]", ErrInvalidJSON},
		{`[]x`, ErrInvalidJSON},
		{`x`, ErrInvalidJSON},
	}
	for _, tc := range tests {
		name, args, err := SplitEvent([]byte(tc.data))
		if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("SplitEvent(%q) = %q, %q, %v; want error %v", tc.data, name, args, err, tc.want)
		}
	}
}

// TestByteExact follows the official suite's message-back check: the
// arguments of an event come back out exactly as they went in.
func TestByteExact(t *testing.T) {
	in := `2["message",1,"2",{"3":[true]}]`
	p, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	name, args, err := SplitEvent(p.Data)
	if err != nil || name != "message" {
		t.Fatalf("SplitEvent = %q, %v", name, err)
	}
	out := Append([]byte("4"), Packet{Type: Event, Namespace: p.Namespace, ID: NoID})
	out = JoinEvent(out, "message-back", args)
	if want := `42["message-back",1,"2",{"3":[true]}]`; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}

	// Odd but valid number and string spellings survive too.
	odd := `["e",1.50,1E+2,-0.0,"\u0041\/",{"b":[ ]},"😀"]`
	_, args, err = SplitEvent([]byte(odd))
	if err != nil {
		t.Fatal(err)
	}
	if want := `[1.50,1E+2,-0.0,"\u0041\/",{"b":[ ]},"😀"]`; string(args) != want {
		t.Errorf("args = %q, want %q", args, want)
	}
	if got := JoinEvent(nil, "e", args); string(got) != odd {
		t.Errorf("JoinEvent = %q, want %q", got, odd)
	}
}

func TestJoinEvent(t *testing.T) {
	tests := []struct {
		name, args, want string
	}{
		{"a", `[1,{"b":2}]`, `["a",1,{"b":2}]`},
		{"a", `[]`, `["a"]`},
		{"a", ``, `["a"]`},
		{"a", ` [ ] `, `["a"]`},
		{"a", "[ 1 ,2 ]\n", `["a",1 ,2]`},
		{"a", `1,2`, `["a",1,2]`},
		// JSON.stringify's escaping, checked against Node.js.
		{"a\"b", `[]`, `["a\"b"]`},
		{`\`, `[]`, `["\\"]`},
		{"\b\f\n\r\t", `[]`, `["\b\f\n\r\t"]`},
		{"\x01\x1f\x7f", `[]`, "[\"\\u0001\\u001f\x7f\"]"},
		{"é€😀", `[]`, `["é€😀"]`},
		{"\u2028\u2029", `[]`, "[\"\u2028\u2029\"]"},
		{"</script>&", `[]`, `["</script>&"]`},
		{"\x00", `[]`, `["\u0000"]`},
		{"a\xffb", `[]`, `["a\ufffdb"]`},
	}
	for _, tc := range tests {
		if got := JoinEvent(nil, tc.name, []byte(tc.args)); string(got) != tc.want {
			t.Errorf("JoinEvent(%q, %q) = %q, want %q", tc.name, tc.args, got, tc.want)
		}
	}
	// JoinEvent appends.
	if got := JoinEvent([]byte("42"), "a", nil); string(got) != `42["a"]` {
		t.Errorf("JoinEvent after prefix = %q", got)
	}
	// And inverts SplitEvent.
	for _, name := range []string{"", "a", "a\"b", "\x00\x1f", "é😀", "connect"} {
		for _, args := range []string{`[]`, `[1]`, `[{"a":[1,2]},"x",null]`} {
			joined := JoinEvent(nil, name, []byte(args))
			gotName, gotArgs, err := SplitEvent(joined)
			if err != nil || gotName != name || string(gotArgs) != args {
				t.Errorf("SplitEvent(JoinEvent(%q, %q)) = %q, %q, %v", name, args, gotName, gotArgs, err)
			}
		}
	}
}

func TestAppendArg(t *testing.T) {
	tests := []struct {
		array, raw, want string
	}{
		{`[]`, `"1-2"`, `["1-2"]`},
		{``, `"1-2"`, `["1-2"]`},
		{` [ ] `, `"1-2"`, `["1-2"]`},
		{`[1]`, `"1-2"`, `[1,"1-2"]`},
		{`[1,"2",{"3":[true]}]`, `"off"`, `[1,"2",{"3":[true]},"off"]`},
		{"[1 ,\n2 ]\n", `{}`, "[1 ,\n2,{}]"},
		{`1`, `2`, `[1,2]`},
	}
	for _, tc := range tests {
		in := []byte(tc.array)
		before := string(in)
		got := AppendArg(in, []byte(tc.raw))
		if string(got) != tc.want {
			t.Errorf("AppendArg(%q, %q) = %q, want %q", tc.array, tc.raw, got, tc.want)
		}
		if string(in) != before {
			t.Errorf("AppendArg modified its input: %q", in)
		}
	}
	if got := AppendArg(nil, []byte(`1`)); string(got) != `[1]` {
		t.Errorf("AppendArg(nil) = %q", got)
	}
	// The result is a new array even when the input has spare capacity.
	in := make([]byte, 3, 64)
	copy(in, `[1]`)
	out := AppendArg(in, []byte(`2`))
	out[0] = 'x'
	if string(in[:cap(in)][:3]) != `[1]` {
		t.Error("AppendArg shares memory with its input")
	}
}

func TestElements(t *testing.T) {
	tests := []struct {
		array string
		want  []string
	}{
		{`[]`, []string{}},
		{` [ ] `, []string{}},
		{`[1]`, []string{`1`}},
		{`["message-back",1,"2",{"3":[true]}]`, []string{`"message-back"`, `1`, `"2"`, `{"3":[true]}`}},
		{"[ 1 ,\n{ \"a\" : [ 2 ] } , null,true,false,\"]\"]", []string{`1`, `{ "a" : [ 2 ] }`, `null`, `true`, `false`, `"]"`}},
		{`[[],[[]],{}]`, []string{`[]`, `[[]]`, `{}`}},
	}
	for _, tc := range tests {
		got, err := Elements([]byte(tc.array))
		if err != nil {
			t.Errorf("Elements(%q): %v", tc.array, err)
			continue
		}
		if got == nil || len(got) != len(tc.want) {
			t.Errorf("Elements(%q) = %q, want %q", tc.array, got, tc.want)
			continue
		}
		for i := range got {
			if string(got[i]) != tc.want[i] {
				t.Errorf("Elements(%q)[%d] = %q, want %q", tc.array, i, got[i], tc.want[i])
			}
		}
	}
	for _, bad := range []string{``, `{}`, `1`, `"a"`, `[`, `[1,]`, `[,1]`, `[1 2]`, `[1]]`, `[1],`, `[1}`, `{]`} {
		if got, err := Elements([]byte(bad)); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("Elements(%q) = %q, %v; want an error", bad, got, err)
		}
	}
	// Elements are sub-slices that cannot be appended into each other.
	arr := []byte(`[1,2]`)
	got, _ := Elements(arr)
	_ = append(got[0], '9')
	if string(arr) != `[1,2]` {
		t.Errorf("appending to an element changed the array: %q", arr)
	}
}

func TestIsReserved(t *testing.T) {
	for _, name := range []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"} {
		if !IsReserved(name) {
			t.Errorf("IsReserved(%q) = false", name)
		}
		if _, err := Decode(JoinEvent([]byte("2"), name, nil)); !errors.Is(err, ErrReservedEvent) {
			t.Errorf("Decode of %q: %v, want %v", name, err, ErrReservedEvent)
		}
		// Spelled with escapes only.
		var esc strings.Builder
		esc.WriteString(`2["`)
		for _, c := range []byte(name) {
			esc.WriteString(`\u00`)
			esc.WriteByte(hexDigits[c>>4])
			esc.WriteByte(hexDigits[c&0xf])
		}
		esc.WriteString(`"]`)
		if _, err := Decode([]byte(esc.String())); !errors.Is(err, ErrReservedEvent) {
			t.Errorf("Decode(%s): %v, want %v", esc.String(), err, ErrReservedEvent)
		}
	}
	for _, name := range []string{"", "Connect", "connect ", "connected", "error", "message", "newlistener", "ping"} {
		if IsReserved(name) {
			t.Errorf("IsReserved(%q) = true", name)
		}
		if _, err := Decode(JoinEvent([]byte("2"), name, nil)); err != nil {
			t.Errorf("Decode of %q: %v", name, err)
		}
	}
}

func TestJSNumber(t *testing.T) {
	// Expected values from Node.js: String(JSON.parse(literal)).
	tests := [][2]string{
		{"0", "0"}, {"-0", "0"}, {"1", "1"}, {"-1", "-1"}, {"1.5", "1.5"},
		{"100", "100"}, {"1e21", "1e+21"}, {"1e20", "100000000000000000000"},
		{"123456789012345678901", "123456789012345680000"}, {"1e-7", "1e-7"},
		{"1e-6", "0.000001"}, {"0.000001", "0.000001"}, {"0.0000001", "1e-7"},
		{"123e-20", "1.23e-18"}, {"5e-324", "5e-324"},
		{"1.7976931348623157e308", "1.7976931348623157e+308"},
		{"1e400", "Infinity"}, {"-1e400", "-Infinity"}, {"1e-400", "0"},
		{"9007199254740993", "9007199254740992"}, {"0.1", "0.1"}, {"1.0", "1"},
		{"2E3", "2000"}, {"-12.5e-3", "-0.0125"}, {"4.35", "4.35"},
		{"0.30000000000000004", "0.30000000000000004"}, {"1e+300", "1e+300"},
		{"1.5e300", "1.5e+300"}, {"12345678901234567890123", "1.2345678901234568e+22"},
		{"0.00001234", "0.00001234"}, {"1234.5678e10", "12345678000000"},
	}
	for _, tc := range tests {
		if got := jsNumber([]byte(tc[0])); got != tc[1] {
			t.Errorf("jsNumber(%s) = %q, want %q", tc[0], got, tc[1])
		}
	}
}

func TestUnescape(t *testing.T) {
	tests := [][2]string{
		{`plain`, "plain"},
		{`\"\\\/\b\f\n\r\t`, "\"\\/\b\f\n\r\t"},
		{`\u0041\u00e9\u20ac`, "Aé€"},
		{`\ud83d\ude00`, "😀"},
		{`\uD83D\uDE00`, "😀"},
		{`\ud83d`, "\ufffd"},
		{`\ude00\ud83d`, "\ufffd\ufffd"},
		{`\ud83dx`, "\ufffdx"},
		{`\ud83d\u0041`, "\ufffdA"},
		{`a\ud83d\ud83d\ude00b`, "a\ufffd😀b"},
	}
	for _, tc := range tests {
		if got := appendUnescaped(nil, []byte(tc[0])); !bytes.Equal(got, []byte(tc[1])) {
			t.Errorf("appendUnescaped(%s) = %q, want %q", tc[0], got, tc[1])
		}
	}
}

// AppendEvent writes what Append writes for the packet the edge used to
// build in three steps (AppendArg, JoinEvent, Append), byte for byte.
func TestAppendEventIsTheThreeSteps(t *testing.T) {
	for _, nsp := range []string{"/", "", "/chat"} {
		for _, id := range []int64{NoID, 0, 42} {
			for _, atts := range []int{0, 2} {
				for _, name := range []string{"ev", "", "a\"b\\c\né😀", "\xff"} {
					for _, args := range []string{"", "[]", "[1]", ` [ 1 , "x" ] `, `[{"a":[1,2]},null]`, `1,2`} {
						for _, last := range []string{"", `"e1.42"`} {
							want := []byte{'4'}
							data := []byte(args)
							if last != "" {
								data = AppendArg(data, []byte(last))
							}
							p := Packet{Type: Event, Namespace: nsp, ID: id}
							if atts > 0 {
								p.Type, p.Attachments = BinaryEvent, atts
							}
							p.Data = JoinEvent(nil, name, data)
							want = Append(want, p)
							got := AppendEvent([]byte{'4'}, nsp, id, atts, name, []byte(args), []byte(last))
							if !bytes.Equal(got, want) {
								t.Errorf("AppendEvent(%q, %d, %d, %q, %q, %q) = %q, want %q", nsp, id, atts, name, args, last, got, want)
							}
						}
					}
				}
			}
		}
	}
}
