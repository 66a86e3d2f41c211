package eio

import (
	"bytes"
	"testing"
)

// Seeds are packets the official client and server exchange.
var textSeeds = []string{
	`0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`,
	"1", "2", "3", "2probe", "3probe", "5", "6",
	"4hello", "40", `40{"token":"abc"}`, `40/admin,{"sid":"x"}`, "41",
	`42["message-back",1,"2",{"3":[true]}]`, `451-["bin",{"_placeholder":true,"num":0}]`,
	`43/admin,12["ok"]`, "44{\"message\":\"Invalid namespace\"}",
	"bAQIDBA==", "b", "4€", "",
}

// FuzzDecodeText checks that every frame DecodeText accepts re-encodes to a
// frame that decodes to the same packet.
func FuzzDecodeText(f *testing.F) {
	for _, s := range textSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		p, err := DecodeText(frame)
		if err != nil {
			return
		}
		if p.Binary != (frame[0] == BinaryPrefix) || (!p.Binary && !p.Type.Valid()) {
			t.Fatalf("inconsistent packet %+v from %q", p, frame)
		}
		enc := AppendPacket(nil, p)
		var q Packet
		if p.Binary {
			q = DecodeBinary(enc)
		} else {
			if !bytes.Equal(enc, frame) {
				t.Fatalf("text re-encoding %q differs from %q", enc, frame)
			}
			if q, err = DecodeText(enc); err != nil {
				t.Fatalf("re-decode %q: %v", enc, err)
			}
		}
		if !equalPacket(p, q) {
			t.Fatalf("round trip %+v -> %+v", p, q)
		}
		// The polling encoding round-trips too.
		rec := AppendPayload(nil, p)
		var got []Packet
		if err := DecodePayload(rec, func(p Packet) error { got = append(got, p); return nil }); err != nil {
			if !p.Binary && bytes.IndexByte(p.Data, Separator) >= 0 {
				return // text data with a separator cannot travel by polling
			}
			t.Fatalf("DecodePayload(%q): %v", rec, err)
		}
		if !p.Binary && bytes.IndexByte(p.Data, Separator) >= 0 {
			return
		}
		if len(got) != 1 || !equalPacket(got[0], p) {
			t.Fatalf("payload round trip %+v -> %+v", p, got)
		}
	})
}

// FuzzDecodePayload checks that an accepted payload re-encodes to a payload
// with the same packets, and that decoding never panics on anything.
func FuzzDecodePayload(f *testing.F) {
	f.Add([]byte("4hello\x1ebAQIDBA==\x1e2\x1e4world"))
	f.Add([]byte("4test1\x1e4test2\x1e4test3"))
	f.Add([]byte("3\x1e1"))
	f.Add([]byte("abc"))
	f.Add([]byte("\x1e"))
	for _, s := range textSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var pkts []Packet
		err := DecodePayload(payload, func(p Packet) error { pkts = append(pkts, p); return nil })
		if err != nil {
			return
		}
		enc := AppendPayload(nil, pkts...)
		var again []Packet
		if err := DecodePayload(enc, func(p Packet) error { again = append(again, p); return nil }); err != nil {
			t.Fatalf("re-decode %q (from %q): %v", enc, payload, err)
		}
		if len(again) != len(pkts) {
			t.Fatalf("%d packets became %d", len(pkts), len(again))
		}
		for i := range pkts {
			if !equalPacket(pkts[i], again[i]) {
				t.Fatalf("packet %d: %+v -> %+v", i, pkts[i], again[i])
			}
		}
	})
}

// FuzzAppendPayload builds packets from arbitrary bytes and checks that the
// polling encoding decodes back to them.
func FuzzAppendPayload(f *testing.F) {
	f.Add([]byte("hello"), []byte{1, 2, 3, 4}, byte('4'))
	f.Add([]byte(""), []byte{}, byte('2'))
	f.Fuzz(func(t *testing.T, text, bin []byte, typ byte) {
		text = bytes.ReplaceAll(text, []byte{Separator}, nil)
		tp := Type('0' + typ%7)
		in := []Packet{{Type: tp, Data: text}, {Type: Message, Data: bin, Binary: true}}
		var out []Packet
		if err := DecodePayload(AppendPayload(nil, in...), func(p Packet) error { out = append(out, p); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(out) != 2 || !equalPacket(in[0], out[0]) || !equalPacket(in[1], out[1]) {
			t.Fatalf("%+v -> %+v", in, out)
		}
	})
}
