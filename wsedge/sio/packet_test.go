package sio

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// samePacket reports whether two packets are equal, telling nil Data from
// empty Data.
func samePacket(a, b Packet) bool {
	return a.Type == b.Type && a.Namespace == b.Namespace && a.ID == b.ID &&
		a.Attachments == b.Attachments && (a.Data == nil) == (b.Data == nil) &&
		bytes.Equal(a.Data, b.Data)
}

func pkt(t Type, ns string, id int64, att int, data string) Packet {
	p := Packet{Type: t, Namespace: ns, ID: id, Attachments: att}
	if data != "" {
		p.Data = []byte(data)
	}
	return p
}

// specPackets are the encoded packets of the v5 protocol document
// (docs/socket.io-protocol/v5-current.md: "Packet encoding", "Exchange
// protocol" and "Sample session", Engine.IO prefix removed) and of its test
// suite, with what they decode to. canon is what Append writes back when it
// differs from text.
var specPackets = []struct {
	text  string
	canon string
	want  Packet
}{
	// Packet encoding: connection to a namespace.
	{text: `0`, want: pkt(Connect, "/", NoID, 0, "")},
	{text: `0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`, want: pkt(Connect, "/admin", NoID, 0, `{"sid":"oSO0OpakMV_3jnilAAAA"}`)},
	{text: `4{"message":"Not authorized"}`, want: pkt(ConnectError, "/", NoID, 0, `{"message":"Not authorized"}`)},
	// Sending and receiving data.
	{text: `2["foo"]`, want: pkt(Event, "/", NoID, 0, `["foo"]`)},
	{text: `2/admin,["bar"]`, want: pkt(Event, "/admin", NoID, 0, `["bar"]`)},
	{text: `51-["baz",{"_placeholder":true,"num":0}]`, want: pkt(BinaryEvent, "/", NoID, 1, `["baz",{"_placeholder":true,"num":0}]`)},
	{text: `52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, want: pkt(BinaryEvent, "/admin", NoID, 2, `["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)},
	// Acknowledgement.
	{text: `212["foo"]`, want: pkt(Event, "/", 12, 0, `["foo"]`)},
	{text: `3/admin,13["bar"]`, want: pkt(Ack, "/admin", 13, 0, `["bar"]`)},
	{text: `61-15["bar",{"_placeholder":true,"num":0}]`, want: pkt(BinaryAck, "/", 15, 1, `["bar",{"_placeholder":true,"num":0}]`)},
	// Disconnection.
	{text: `1`, want: pkt(Disconnect, "/", NoID, 0, "")},
	{text: `1/admin,`, want: pkt(Disconnect, "/admin", NoID, 0, "")},
	// Exchange protocol examples, encoded as socket.io's encoder does.
	{text: `0{"sid":"wZX3oN0bSVIhsaknAAAI"}`, want: pkt(Connect, "/", NoID, 0, `{"sid":"wZX3oN0bSVIhsaknAAAI"}`)},
	{text: `0/admin,`, want: pkt(Connect, "/admin", NoID, 0, "")},
	{text: `0/admin,{"token":"123"}`, want: pkt(Connect, "/admin", NoID, 0, `{"token":"123"}`)},
	{text: `0/admin,{"sid":"iLnRaVGHY4B75TeVAAAB"}`, want: pkt(Connect, "/admin", NoID, 0, `{"sid":"iLnRaVGHY4B75TeVAAAB"}`)},
	{text: `312[]`, want: pkt(Ack, "/", 12, 0, `[]`)},
	{text: `2/admin,13["foo"]`, want: pkt(Event, "/admin", 13, 0, `["foo"]`)},
	{text: `51-14["foo",{"_placeholder":true,"num":0}]`, want: pkt(BinaryEvent, "/", 14, 1, `["foo",{"_placeholder":true,"num":0}]`)},
	{text: `314["bar"]`, want: pkt(Ack, "/", 14, 0, `["bar"]`)},
	{text: `215["foo"]`, want: pkt(Event, "/", 15, 0, `["foo"]`)},
	// Sample session.
	{text: `2["hey","Jude"]`, want: pkt(Event, "/", NoID, 0, `["hey","Jude"]`)},
	{text: `2["hello"]`, want: pkt(Event, "/", NoID, 0, `["hello"]`)},
	{text: `2["world"]`, want: pkt(Event, "/", NoID, 0, `["world"]`)},
	{text: `0/admin,{"sid":"-G5j-67EZFp-q59rADQM"}`, want: pkt(Connect, "/admin", NoID, 0, `{"sid":"-G5j-67EZFp-q59rADQM"}`)},
	{text: `2/admin,1["tellme"]`, want: pkt(Event, "/admin", 1, 0, `["tellme"]`)},
	{text: `61-/admin,1[{"_placeholder":true,"num":0}]`, want: pkt(BinaryAck, "/admin", 1, 1, `[{"_placeholder":true,"num":0}]`)},
	// The v5 test suite.
	{text: `0{"token":"123"}`, want: pkt(Connect, "/", NoID, 0, `{"token":"123"}`)},
	{text: `2["auth",{}]`, want: pkt(Event, "/", NoID, 0, `["auth",{}]`)},
	{text: `0/custom,`, want: pkt(Connect, "/custom", NoID, 0, "")},
	{text: `0/custom`, canon: `0/custom,`, want: pkt(Connect, "/custom", NoID, 0, "")},
	{text: `0/custom,{"token":"abc"}`, want: pkt(Connect, "/custom", NoID, 0, `{"token":"abc"}`)},
	{text: `2/custom,["auth",{"token":"abc"}]`, want: pkt(Event, "/custom", NoID, 0, `["auth",{"token":"abc"}]`)},
	{text: `4/random,{"message":"Invalid namespace"}`, want: pkt(ConnectError, "/random", NoID, 0, `{"message":"Invalid namespace"}`)},
	{text: `1/custom`, canon: `1/custom,`, want: pkt(Disconnect, "/custom", NoID, 0, "")},
	{text: `2["message","message to main namespace"]`, want: pkt(Event, "/", NoID, 0, `["message","message to main namespace"]`)},
	{text: `2["message-back",1,"2",{"3":[true]}]`, want: pkt(Event, "/", NoID, 0, `["message-back",1,"2",{"3":[true]}]`)},
	{text: `52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, want: pkt(BinaryEvent, "/", NoID, 2, `["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)},
	{text: `2456["message-with-ack",1,"2",{"3":[false]}]`, want: pkt(Event, "/", 456, 0, `["message-with-ack",1,"2",{"3":[false]}]`)},
	{text: `3456[1,"2",{"3":[false]}]`, want: pkt(Ack, "/", 456, 0, `[1,"2",{"3":[false]}]`)},
	{text: `52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, want: pkt(BinaryEvent, "/", 789, 2, `["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)},
	{text: `62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, want: pkt(BinaryAck, "/", 789, 2, `[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)},
	// socket.io-parser's own tests.
	{text: `0/woot,{"token":"123"}`, want: pkt(Connect, "/woot", NoID, 0, `{"token":"123"}`)},
	{text: `1/woot,`, want: pkt(Disconnect, "/woot", NoID, 0, "")},
	{text: `2["a",1,{}]`, want: pkt(Event, "/", NoID, 0, `["a",1,{}]`)},
	{text: `2[1,"a",{}]`, want: pkt(Event, "/", NoID, 0, `[1,"a",{}]`)},
	{text: `2/test,1["a",1,{}]`, want: pkt(Event, "/test", 1, 0, `["a",1,{}]`)},
	{text: `3123["a",1,{}]`, want: pkt(Ack, "/", 123, 0, `["a",1,{}]`)},
	{text: `4"Unauthorized"`, want: pkt(ConnectError, "/", NoID, 0, `"Unauthorized"`)},
	{text: `4{"message":"Unauthorized"}`, want: pkt(ConnectError, "/", NoID, 0, `{"message":"Unauthorized"}`)},
	{text: `51-["hello"]`, want: pkt(BinaryEvent, "/", NoID, 1, `["hello"]`)},
	// Forms socket.io accepts that its encoder does not write.
	{text: `2/,["a"]`, canon: `2["a"]`, want: pkt(Event, "/", NoID, 0, `["a"]`)},
	{text: `2/custom,12["a"]`, want: pkt(Event, "/custom", 12, 0, `["a"]`)},
	{text: `2012["a"]`, canon: `212["a"]`, want: pkt(Event, "/", 12, 0, `["a"]`)},
	{text: `0/admin,5{}`, want: pkt(Connect, "/admin", 5, 0, `{}`)},
	{text: `1/admin,5`, want: pkt(Disconnect, "/admin", 5, 0, "")},
	{text: "2[\"a\"] \n", want: pkt(Event, "/", NoID, 0, "[\"a\"] \n")},
	{text: `510-["a"]`, want: pkt(BinaryEvent, "/", NoID, 10, `["a"]`)},
	{text: `501-["a"]`, canon: `51-["a"]`, want: pkt(BinaryEvent, "/", NoID, 1, `["a"]`)},
	{text: `20["a"]`, want: pkt(Event, "/", 0, 0, `["a"]`)},
	{text: `29007199254740991["a"]`, want: pkt(Event, "/", MaxID, 0, `["a"]`)},
	{text: `2["a\u0000b"]`, want: pkt(Event, "/", NoID, 0, `["a\u0000b"]`)},
	{text: `2/ünï,["é",{"😀":[]}]`, want: pkt(Event, "/ünï", NoID, 0, `["é",{"😀":[]}]`)},
	{text: `2[-1.5e3,null]`, want: pkt(Event, "/", NoID, 0, `[-1.5e3,null]`)},
	{text: `2[ "a" , 1 ]`, want: pkt(Event, "/", NoID, 0, `[ "a" , 1 ]`)},
	{text: `2["connected"]`, want: pkt(Event, "/", NoID, 0, `["connected"]`)},
}

func TestDecodeSpec(t *testing.T) {
	for _, tc := range specPackets {
		got, err := Decode([]byte(tc.text))
		if err != nil {
			t.Errorf("Decode(%q): %v", tc.text, err)
			continue
		}
		if !samePacket(got, tc.want) {
			t.Errorf("Decode(%q) = %+v (data %q), want %+v (data %q)", tc.text, got, got.Data, tc.want, tc.want.Data)
		}
		canon := tc.canon
		if canon == "" {
			canon = tc.text
		}
		if enc := Append(nil, got); string(enc) != canon {
			t.Errorf("Append(Decode(%q)) = %q, want %q", tc.text, enc, canon)
		}
	}
}

// decodeErrors are packets Decode must reject, with the error they give.
var decodeErrors = []struct {
	text string
	want error
}{
	// From socket.io-parser's tests.
	{`42["some","data"`, ErrInvalidJSON},
	{`0/admin,"invalid"`, ErrInvalidPayload},
	{`0[]`, ErrInvalidPayload},
	{`1/admin,{}`, ErrInvalidPayload},
	{`2/admin,"invalid`, ErrInvalidJSON},
	{`2/admin,{}`, ErrInvalidPayload},
	{`2[{"toString":"foo"}]`, ErrInvalidPayload},
	{`2[true,"foo"]`, ErrInvalidPayload},
	{`2[null,"bar"]`, ErrInvalidPayload},
	{`2["connect"]`, ErrReservedEvent},
	{`2["disconnect","123"]`, ErrReservedEvent},
	{`5`, ErrInvalidAttachments},
	{`51`, ErrInvalidAttachments},
	{`5a-`, ErrInvalidAttachments},
	{`51.23-`, ErrInvalidAttachments},
	{`999`, ErrUnknownType},
	// From the v5 test suite.
	{`abc`, ErrUnknownType},
	{`2{}`, ErrInvalidPayload},
	{`2abc["message-with-ack",1,"2",{"3":[false]}]`, ErrInvalidJSON},
	// Type byte.
	{``, ErrUnknownType},
	{` `, ErrUnknownType},
	{`7["a"]`, ErrUnknownType},
	{`/2["a"]`, ErrUnknownType},
	// Attachments.
	{`50-["a"]`, ErrInvalidAttachments},
	{`5-["a"]`, ErrInvalidAttachments},
	{`5 1-["a"]`, ErrInvalidAttachments},
	{`50x1-["a"]`, ErrInvalidAttachments},
	{`61.0-["a"]`, ErrInvalidAttachments},
	{`511-["a"]`, ErrTooManyAttachments},
	{`599999999999999999999999-["a"]`, ErrTooManyAttachments},
	{`21-["a"]`, ErrInvalidJSON},
	// Ack id.
	{`29007199254740992["a"]`, ErrInvalidID},
	{`2/a,99999999999999999999999["a"]`, ErrInvalidID},
	{`2 ["a"]`, ErrInvalidJSON},
	{"2\t[\"a\"]", ErrInvalidJSON},
	{`21 ["a"]`, ErrInvalidJSON},
	// Missing or unexpected payloads.
	{`2`, ErrInvalidPayload},
	{`3`, ErrInvalidPayload},
	{`312`, ErrInvalidPayload},
	{`4`, ErrInvalidPayload},
	{`44`, ErrInvalidPayload},
	{`51-`, ErrInvalidPayload},
	{`6/a,1-`, ErrInvalidAttachments},
	{`2/admin["a"]`, ErrInvalidPayload},
	{`1"x"`, ErrInvalidPayload},
	// Payload shapes.
	{`2[]`, ErrInvalidPayload},
	{`2[ ]`, ErrInvalidPayload},
	{`2[[],"a"]`, ErrInvalidPayload},
	{`2"a"`, ErrInvalidPayload},
	{`3{}`, ErrInvalidPayload},
	{`3"a"`, ErrInvalidPayload},
	{`4[]`, ErrInvalidPayload},
	{`4 {}`, ErrInvalidJSON},
	{`0null`, ErrInvalidPayload},
	{`0"a"`, ErrInvalidPayload},
	{`51-{}`, ErrInvalidPayload},
	{`61-{}`, ErrInvalidPayload},
	// Reserved names, escaped too.
	{`2["conn\u0065ct"]`, ErrReservedEvent},
	{`2["connect_error",1]`, ErrReservedEvent},
	{`2["disconnecting"]`, ErrReservedEvent},
	{`2["newListener"]`, ErrReservedEvent},
	{`2/x,["removeListener"]`, ErrReservedEvent},
	{`51-["\u0063onnect",{"_placeholder":true,"num":0}]`, ErrReservedEvent},
	// Invalid JSON.
	{`2["a"]x`, ErrInvalidJSON},
	{`2["a"]["b"]`, ErrInvalidJSON},
	{`2["a",]`, ErrInvalidJSON},
	{`2["a" 1]`, ErrInvalidJSON},
	{`2["a",01]`, ErrInvalidJSON},
	{`2["a",1.]`, ErrInvalidJSON},
	{`2["a",.5]`, ErrInvalidJSON},
	{`2["a",+1]`, ErrInvalidJSON},
	{`2["a",NaN]`, ErrInvalidJSON},
	{`2["a",tru]`, ErrInvalidJSON},
	{`2["a",{"b"}]`, ErrInvalidJSON},
	{`2["a",{1:2}]`, ErrInvalidJSON},
	{`2["a",'b']`, ErrInvalidJSON},
	{"2[\"a\tb\"]", ErrInvalidJSON},
	{`2["a\x"]`, ErrInvalidJSON},
	{`2["a\u12"]`, ErrInvalidJSON},
	{"2[\"a\xff\"]", ErrInvalidJSON},
	{"2[\"a\xed\xa0\x80\"]", ErrInvalidJSON},
	{"2[\"a\"]\xef\xbb\xbf", ErrInvalidJSON},
	{`0{"a":1}}`, ErrInvalidJSON},
	{`0{"a":1`, ErrInvalidJSON},
	{`2["a"`, ErrInvalidJSON},
	{`2[true,`, ErrInvalidJSON},
	{`2[`, ErrInvalidJSON},
	{"2/\xff,[\"a\"]", ErrInvalidNamespace},
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range decodeErrors {
		p, err := Decode([]byte(tc.text))
		if err == nil {
			t.Errorf("Decode(%q) = %+v, want error %v", tc.text, p, tc.want)
			continue
		}
		if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("Decode(%q) error = %v, want %v", tc.text, err, tc.want)
		}
		if !strings.Contains(err.Error(), "sio: ") || strings.Count(err.Error(), "sio:") != 1 {
			t.Errorf("Decode(%q) error %q: want exactly one sio: prefix", tc.text, err)
		}
		if !samePacket(p, Packet{}) {
			t.Errorf("Decode(%q) returned %+v with its error", tc.text, p)
		}
	}
}

func TestDecoderMaxAttachments(t *testing.T) {
	// socket.io-parser: new Decoder({ maxAttachments: 2 }) rejects this.
	text := []byte(`53-["hello",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]`)
	if _, err := (Decoder{MaxAttachments: 2}).Decode(text); !errors.Is(err, ErrTooManyAttachments) {
		t.Errorf("MaxAttachments 2: err = %v, want %v", err, ErrTooManyAttachments)
	}
	if p, err := (Decoder{MaxAttachments: 3}).Decode(text); err != nil || p.Attachments != 3 {
		t.Errorf("MaxAttachments 3: %+v, %v", p, err)
	}
	big := []byte(`5100-["a"]`)
	if _, err := Decode(big); !errors.Is(err, ErrTooManyAttachments) {
		t.Errorf("default limit: err = %v", err)
	}
	for _, limit := range []int{0, -1} {
		if _, err := (Decoder{MaxAttachments: limit}).Decode(big); !errors.Is(err, ErrTooManyAttachments) {
			t.Errorf("MaxAttachments %d: err = %v, want the default limit", limit, err)
		}
	}
	if p, err := (Decoder{MaxAttachments: 1 << 40}).Decode(big); err != nil || p.Attachments != 100 {
		t.Errorf("MaxAttachments 1<<40: %+v, %v", p, err)
	}
}

func TestRoundTrip(t *testing.T) {
	packets := []Packet{
		pkt(Connect, "/", NoID, 0, ""),
		pkt(Connect, "/admin", NoID, 0, `{"pid":"abc","offset":"1-2"}`),
		pkt(Disconnect, "/", NoID, 0, ""),
		pkt(Disconnect, "/a/b", NoID, 0, ""),
		pkt(Event, "/", 0, 0, `["x"]`),
		pkt(Event, "/chat", MaxID, 0, `["message-back",1,"2",{"3":[true]}]`),
		pkt(Ack, "/", 7, 0, `[]`),
		pkt(Ack, "/n", 1, 0, `[null,{"a":[1,2,{"b":"c"}]}]`),
		pkt(ConnectError, "/", NoID, 0, `"nope"`),
		pkt(ConnectError, "/nsp", NoID, 0, `{"message":"Invalid namespace"}`),
		pkt(BinaryEvent, "/", NoID, 1, `["up",{"_placeholder":true,"num":0}]`),
		pkt(BinaryEvent, "/x", 3, 10, `["up",{"_placeholder":true,"num":9}]`),
		pkt(BinaryAck, "/", 99, 2, `[{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`),
		pkt(Event, "/", NoID, 0, `[42]`),
		pkt(Event, "/ns with space", NoID, 0, `["\"quoted\"","\u2028"]`),
	}
	for _, p := range packets {
		enc := Append(nil, p)
		got, err := Decode(enc)
		if err != nil {
			t.Errorf("Decode(Append(%+v)) = %q: %v", p, enc, err)
			continue
		}
		if !samePacket(got, p) {
			t.Errorf("Decode(%q) = %+v, want %+v", enc, got, p)
		}
	}
}

func TestAppendNamespace(t *testing.T) {
	for _, tc := range []struct {
		p    Packet
		want string
	}{
		{Packet{Type: Event, ID: NoID, Data: []byte(`["a"]`)}, `2["a"]`},
		{Packet{Type: Event, Namespace: "/", ID: NoID, Data: []byte(`["a"]`)}, `2["a"]`},
		{Packet{Type: Event, Namespace: "/", ID: 5, Data: []byte(`["a"]`)}, `25["a"]`},
		{Packet{Type: Disconnect, Namespace: "/admin", ID: NoID}, `1/admin,`},
		{Packet{Type: BinaryAck, Namespace: "/admin", ID: 1, Attachments: 1, Data: []byte(`[{"_placeholder":true,"num":0}]`)}, `61-/admin,1[{"_placeholder":true,"num":0}]`},
		{Packet{Type: Event, Namespace: "/", ID: NoID}, `2`},
	} {
		if got := string(Append(nil, tc.p)); got != tc.want {
			t.Errorf("Append(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
	// Append appends.
	if got := string(Append([]byte("4"), Packet{Type: Event, ID: NoID, Data: []byte(`["a"]`)})); got != `42["a"]` {
		t.Errorf("Append after prefix = %q", got)
	}
}

func TestAllocs(t *testing.T) {
	root := []byte(`2["message-back",1,"2",{"3":[true]}]`)
	custom := []byte(`2/chat,12["message-back",1,"2",{"3":[true]}]`)
	bin := []byte(`52-/chat,12["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	for _, tc := range []struct {
		name string
		max  float64
		fn   func()
	}{
		{"Decode root namespace", 0, func() { _, _ = Decode(root) }},
		{"Decode custom namespace", 1, func() { _, _ = Decode(custom) }},
		{"Decode binary", 1, func() { _, _ = Decode(bin) }},
		{"CheckPlaceholders", 0, func() { _ = CheckPlaceholders(bin[11:], 2) }},
		{"Append", 0, func() {
			var buf [128]byte
			_ = Append(buf[:0], Packet{Type: Event, Namespace: "/chat", ID: 12, Data: root[1:]})
		}},
		{"Append+JoinEvent", 0, func() {
			var buf [128]byte
			b := Append(buf[:0], Packet{Type: Event, Namespace: "/chat", ID: NoID})
			_ = JoinEvent(b, "message-back", []byte(`[1,"2",{"3":[true]}]`))
		}},
		{"SplitEvent", 2, func() { _, _, _ = SplitEvent(root[1:]) }},
	} {
		if got := testing.AllocsPerRun(100, tc.fn); got > tc.max {
			t.Errorf("%s: %v allocations, want at most %v", tc.name, got, tc.max)
		}
	}
}

func TestDataAliasesText(t *testing.T) {
	buf := make([]byte, 0, 64)
	buf = append(buf, `2["a"]`...)
	p, err := Decode(buf)
	if err != nil {
		t.Fatal(err)
	}
	if &p.Data[0] != &buf[1] {
		t.Error("Data does not alias the text")
	}
	if cap(p.Data) != len(p.Data) {
		t.Errorf("cap(Data) = %d, want %d so appends cannot write into the caller's buffer", cap(p.Data), len(p.Data))
	}
}

func TestTypeString(t *testing.T) {
	want := []string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"}
	for i, w := range want {
		if got := Type(i).String(); got != w {
			t.Errorf("Type(%d).String() = %q, want %q", i, got, w)
		}
		if !Type(i).Valid() {
			t.Errorf("Type(%d) not valid", i)
		}
	}
	if got := Type(7).String(); got != "Type(7)" {
		t.Errorf("Type(7).String() = %q", got)
	}
	if Type(7).Valid() {
		t.Error("Type(7) valid")
	}
}
