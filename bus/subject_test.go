package bus

import (
	"errors"
	"strings"
	"testing"
)

func TestEncodeToken(t *testing.T) {
	cases := map[string]string{
		"":         "~",
		"chat":     "chat",
		"a-b_c9":   "a-b_c9",
		"a.b":      "a%2Eb",
		"*":        "%2A",
		">":        "%3E",
		"a.>":      "a%2E%3E",
		"..":       "%2E%2E",
		"%2E":      "%252E",
		"~":        "%7E",
		"a b\tc":   "a%20b%09c",
		"/":        "%2F",
		"héllo":    "h%C3%A9llo",
		"\x00\xff": "%00%FF",
	}
	for name, want := range cases {
		got, err := EncodeToken(name)
		if err != nil || got != want {
			t.Errorf("EncodeToken(%q) = %q, %v; want %q", name, got, err, want)
		}
		back, err := DecodeToken(got)
		if err != nil || back != name {
			t.Errorf("DecodeToken(%q) = %q, %v; want %q", got, back, err, name)
		}
	}
}

func TestTokenNeverInjects(t *testing.T) {
	for _, name := range []string{"a.b", "*", ">", "a.>", "a b", "\r\n", "x.*.y", strings.Repeat(".", 255)} {
		tok, err := EncodeToken(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(tok, ".*> \t\r\n\f") {
			t.Errorf("token %q for %q carries a subject metacharacter", tok, name)
		}
	}
}

func TestTokenLimits(t *testing.T) {
	if _, err := EncodeToken(strings.Repeat("a", MaxNameLen+1)); !errors.Is(err, ErrNameTooLong) {
		t.Fatalf("err = %v", err)
	}
	if _, err := EncodeToken(strings.Repeat("a", MaxNameLen)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "%", "%2", "%2e", "%41", "a.b", "a*", "%ZZ", "~~", "a~"} {
		if _, err := DecodeToken(bad); err == nil {
			t.Errorf("DecodeToken(%q) accepted a token EncodeToken never produces", bad)
		}
	}
}

func FuzzToken(f *testing.F) {
	for _, s := range []string{"", "chat", "a.b", "*", ">", "a.>", "%2E", "~", "héllo", "room 1", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		tok, err := EncodeToken(name)
		if len(name) > MaxNameLen {
			if err == nil {
				t.Fatalf("accepted %d-byte name", len(name))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if tok == "" || strings.ContainsAny(tok, ".*> \t\r\n\f") {
			t.Fatalf("bad token %q", tok)
		}
		back, err := DecodeToken(tok)
		if err != nil || back != name {
			t.Fatalf("round trip %q -> %q -> %q, %v", name, tok, back, err)
		}
		// Decoding an arbitrary string never yields a name whose token differs.
		if dec, err := DecodeToken(name); err == nil {
			if again, _ := EncodeToken(dec); again != name {
				t.Fatalf("DecodeToken(%q) = %q but that encodes to %q", name, dec, again)
			}
		}
	})
}

func BenchmarkEncodeTokenPlain(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = EncodeToken("room-12345678")
	}
}
