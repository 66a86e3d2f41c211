package eio

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestDecodeText(t *testing.T) {
	tests := []struct {
		in   string
		want Packet
		err  error
	}{
		{in: "2", want: Packet{Type: Ping}},
		{in: "2probe", want: Packet{Type: Ping, Data: []byte("probe")}},
		{in: "3probe", want: Packet{Type: Pong, Data: []byte("probe")}},
		{in: "4hello", want: Packet{Type: Message, Data: []byte("hello")}},
		{in: `40{"token":"x"}`, want: Packet{Type: Message, Data: []byte(`0{"token":"x"}`)}},
		{in: "5", want: Packet{Type: Upgrade}},
		{in: "6", want: Packet{Type: Noop}},
		{in: "1", want: Packet{Type: Close}},
		{in: `0{"sid":"abc"}`, want: Packet{Type: Open, Data: []byte(`{"sid":"abc"}`)}},
		{in: "bAQIDBA==", want: Packet{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true}},
		{in: "bAQIDBA", want: Packet{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true}},
		{in: "b", want: Packet{Type: Message, Data: []byte{}, Binary: true}},
		{in: "", err: ErrEmptyPacket},
		{in: "7", err: ErrUnknownType},
		{in: "abc", err: ErrUnknownType},
		{in: "b!!!!", err: ErrBase64},
		{in: "bAR==", err: ErrBase64},
	}
	for _, tt := range tests {
		got, err := DecodeText([]byte(tt.in))
		if !errors.Is(err, tt.err) {
			t.Errorf("DecodeText(%q) error = %v, want %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && !equalPacket(got, tt.want) {
			t.Errorf("DecodeText(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestDecodePayload(t *testing.T) {
	var got []Packet
	collect := func(p Packet) error { got = append(got, p); return nil }

	err := DecodePayload([]byte("4hello\x1ebAQIDBA==\x1e2\x1e4world"), collect)
	if err != nil {
		t.Fatal(err)
	}
	want := []Packet{
		{Type: Message, Data: []byte("hello")},
		{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true},
		{Type: Ping},
		{Type: Message, Data: []byte("world")},
	}
	if !slices.EqualFunc(got, want, equalPacket) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// Appending to a decoded packet's data must not overwrite the next record.
	in := []byte("4a\x1e4b")
	var first []byte
	_ = DecodePayload(in, func(p Packet) error {
		if first == nil {
			first = p.Data
		}
		return nil
	})
	_ = append(first, 'X')
	if string(in) != "4a\x1e4b" {
		t.Fatalf("append to decoded data changed the payload: %q", in)
	}

	got = nil
	err = DecodePayload([]byte("4ok\x1eabc\x1e4never"), collect)
	if !errors.Is(err, ErrUnknownType) {
		t.Fatalf("error = %v, want ErrUnknownType", err)
	}
	if len(got) != 1 || string(got[0].Data) != "ok" {
		t.Fatalf("packets before the bad record = %+v", got)
	}

	for _, in := range []string{"", "\x1e", "4a\x1e", "\x1e4a"} {
		if err := DecodePayload([]byte(in), func(Packet) error { return nil }); !errors.Is(err, ErrEmptyPacket) {
			t.Errorf("DecodePayload(%q) = %v, want ErrEmptyPacket", in, err)
		}
	}

	stop := errors.New("stop")
	n := 0
	err = DecodePayload([]byte("1\x1e4a"), func(Packet) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("callback error: err=%v calls=%d", err, n)
	}
}

func TestAppend(t *testing.T) {
	pkts := []Packet{
		{Type: Message, Data: []byte("hello")},
		{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true},
		{Type: Ping},
	}
	if got := string(AppendPayload(nil, pkts...)); got != "4hello\x1ebAQIDBA==\x1e2" {
		t.Fatalf("AppendPayload = %q", got)
	}
	if got := AppendPacket([]byte("x"), pkts[0]); string(got) != "x4hello" {
		t.Fatalf("AppendPacket text = %q", got)
	}
	if got := AppendPacket(nil, pkts[1]); !bytes.Equal(got, []byte{1, 2, 3, 4}) {
		t.Fatalf("AppendPacket binary = %v", got)
	}
	if got := string(AppendPayload(nil)); got != "" {
		t.Fatalf("AppendPayload() = %q", got)
	}
}

func TestTypeString(t *testing.T) {
	if Open.String() != "open" || Noop.String() != "noop" || Type('9').String() != "Type(0x39)" {
		t.Fatal("unexpected names")
	}
}

func equalPacket(a, b Packet) bool {
	return a.Type == b.Type && a.Binary == b.Binary && bytes.Equal(a.Data, b.Data)
}
