package sio

import (
	"encoding/json"
	"strings"
	"testing"
)

var (
	benchEvent   = []byte(`2["message-back",1,"2",{"3":[true]}]`)
	benchEventNS = []byte(`2/chat,12["message",{"user":"ada","text":"hello there","ts":1718000000000,"tags":["a","b"]}]`)
	benchArgs    = []byte(`[1,"2",{"3":[true]}]`)
	// A 4 KB chat-like event.
	benchLarge = []byte(`2["batch",[` + strings.TrimSuffix(strings.Repeat(`{"user":"ada","text":"hello \"there\" \u00e9","ts":1718000000000,"ok":true,"n":null},`, 50), ",") + `]]`)
)

func BenchmarkDecodeEvent(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEvent)))
	for b.Loop() {
		if _, err := Decode(benchEvent); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEventNamespace(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEventNS)))
	for b.Loop() {
		if _, err := Decode(benchEventNS); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEventLarge(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchLarge)))
	for b.Loop() {
		if _, err := Decode(benchLarge); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONValidLarge is the same payload through encoding/json, for
// comparison with BenchmarkDecodeEventLarge.
func BenchmarkJSONValidLarge(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchLarge)))
	for b.Loop() {
		if !json.Valid(benchLarge[1:]) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkSplitEvent(b *testing.B) {
	b.ReportAllocs()
	data := benchEvent[1:]
	for b.Loop() {
		if _, _, err := SplitEvent(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	b.ReportAllocs()
	p := Packet{Type: Event, Namespace: "/chat", ID: 12, Data: benchEvent[1:]}
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = Append(buf[:0], p)
	}
}

// BenchmarkAppendJoinEvent builds an outgoing event from a name and raw
// arguments the way the server does.
func BenchmarkAppendJoinEvent(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = Append(buf[:0], Packet{Type: Event, Namespace: "/chat", ID: NoID})
		buf = JoinEvent(buf, "message-back", benchArgs)
	}
}
