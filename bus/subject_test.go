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

func TestIOSubjectRoundTrip(t *testing.T) {
	base := IOBase("chat")
	for _, a := range []IOAddress{
		{Kind: IOAll, Event: "news"},
		{Kind: IOAll, Event: ""},
		{Kind: IORoom, Target: "a.>", Event: "x y"},
		{Kind: IORoom, Target: "abcdefghijklmnopqrst", Event: "ev"}, // shaped like a socket id: still a room
		{Kind: IORooms, Event: "*"},
		{Kind: IOSocket, Target: "K3u-9_xYz0123456789a", Event: "direct"},
		{Kind: IOControl, Target: "join"},
	} {
		subject, err := IOSubject(base, a)
		if err != nil {
			t.Fatalf("%+v: %v", a, err)
		}
		if strings.Count(subject, "*") > 0 || strings.Contains(subject, ">") || strings.Contains(subject, " ") {
			t.Fatalf("%+v: wildcard or space in %q", a, subject)
		}
		got, err := ParseIOAddress(strings.TrimPrefix(subject, base))
		if err != nil || got != a {
			t.Fatalf("%q parsed as %+v, %v; want %+v", subject, got, err, a)
		}
	}
	for _, bad := range []IOAddress{
		{Kind: IOSocket, Target: "a.b", Event: "e"},
		{Kind: IOControl, Target: "x.y"},
		{Kind: 0, Event: "e"},
		{Kind: IORoom, Target: strings.Repeat("r", MaxNameLen+1), Event: "e"},
	} {
		if s, err := IOSubject(base, bad); err == nil {
			t.Errorf("%+v built %q", bad, s)
		}
	}
	for _, rest := range []string{"", "all", "room.r", "sock.a%2Eb.e", "ctl.", "ctl.a.b", "nope.e", "all.%zz", "room.%41.e"} {
		if a, err := ParseIOAddress(rest); err == nil {
			t.Errorf("ParseIOAddress(%q) = %+v", rest, a)
		}
	}
}

func TestTokenListRoundTrip(t *testing.T) {
	names := []string{"a", "b,c", "", "d.e"}
	v, err := EncodeTokenList(names)
	if err != nil {
		t.Fatal(err)
	}
	if got := DecodeTokenList(v); strings.Join(got, "|") != strings.Join(names, "|") {
		t.Fatalf("%q decoded as %q", v, got)
	}
}

// FuzzIOAddress: whatever parses rebuilds to the same subject, and nothing
// built for a parsed address holds a wildcard.
func FuzzIOAddress(f *testing.F) {
	for _, s := range []string{"all.news", "room.a%2E%3E.x", "rooms.e", "sock.abc.e", "ctl.join", "room.~.~", "all.%FF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		a, err := ParseIOAddress(rest)
		if err != nil {
			return
		}
		subject, err := IOSubject("b.", a)
		if err != nil {
			t.Fatalf("%q parsed as %+v but does not rebuild: %v", rest, a, err)
		}
		if subject != "b."+rest {
			t.Fatalf("%q rebuilt as %q", rest, subject)
		}
	})
}
