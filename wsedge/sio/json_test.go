package sio

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// validJSON is the scanner's verdict on a whole document, leading
// whitespace allowed, as json.Valid would give it.
func validJSON(b []byte) bool {
	_, code := scanDocument(b[skipSpace(b, 0):])
	return code == scanOK
}

var jsonCorpus = []string{
	``, ` `, `0`, `-0`, `-`, `01`, `1.`, `.5`, `1e`, `1e+`, `1E-7`, `1.5e+300`, `+1`, `0x1`,
	`1 2`, `"a"`, `"`, `"\"`, `"\u00e9"`, `"\u00g9"`, `"\ud800"`, `"\x"`, "\"\t\"", "\"\x7f\"",
	`true`, `tru`, `truex`, `false`, `null`, `nul`, `NaN`, `Infinity`,
	`[]`, `[ ]`, `[`, `]`, `[1,]`, `[,1]`, `[1 2]`, `[1,,2]`, `[[[]]]`, `[[]`, `[]]`,
	`{}`, `{ }`, `{"a":1}`, `{"a" : 1 , "b" : [ ] }`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`,
	`{1:1}`, `{"a":1 "b":2}`, `{"a":1}}`, `{"a":{"b":{"c":[1,{"d":null}]}}}`, `[}`, `{]`,
	" [1]\n", "[1]\r\n\t ", "\v[1]", "[1]\x00", "\xef\xbb\xbf[1]",
	`["message-back",1,"2",{"3":[true]}]`,
}

func TestScanMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonCorpus {
		b := []byte(s)
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Errorf("valid(%q) = %v, json.Valid = %v", s, got, want)
		}
	}
}

func TestScanUTF8(t *testing.T) {
	// encoding/json lets invalid UTF-8 through; the scanner must not.
	for _, s := range []string{"\"\xff\"", "\"\xc3\"", "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "\"\xf4\x90\x80\x80\"", "[\"ok\",\"\xe2\x82\"]"} {
		if validJSON([]byte(s)) {
			t.Errorf("valid(%q) = true", s)
		}
	}
	for _, s := range []string{"\"é€😀\"", "\"\u2028\"", "\"\U0010ffff\""} {
		if !validJSON([]byte(s)) {
			t.Errorf("valid(%q) = false", s)
		}
	}
}

func TestScanDepth(t *testing.T) {
	for _, depth := range []int{1, 63, 64, 65, 200, maxDepth - 1, maxDepth, maxDepth + 1} {
		for _, open := range []string{"[", `{"k":`, "mixed"} {
			var b strings.Builder
			var closers []byte
			for d := range depth {
				o := open
				if o == "mixed" {
					o = []string{"[", `{"k":`}[d%2]
				}
				b.WriteString(o)
				if o == "[" {
					closers = append(closers, ']')
				} else {
					closers = append(closers, '}')
				}
			}
			b.WriteString("1")
			for i := len(closers) - 1; i >= 0; i-- {
				b.WriteByte(closers[i])
			}
			doc := []byte(b.String())
			if got, want := validJSON(doc), json.Valid(doc); got != want || want != (depth <= maxDepth) {
				t.Errorf("depth %d %s: valid = %v, json.Valid = %v", depth, open, got, want)
			}
			// A broken closer deep down is found.
			broken := []byte(b.String())
			broken[len(broken)-depth/2-1] ^= ']' ^ '}'
			if depth > 1 && validJSON(broken) {
				t.Errorf("depth %d %s: mismatched closer accepted", depth, open)
			}
		}
	}
}

func TestEventDepth(t *testing.T) {
	// An event's arguments may nest as deep as encoding/json allows.
	ok := `2["a",` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `]`
	if _, err := Decode([]byte(ok)); err != nil {
		t.Errorf("depth %d: %v", maxDepth, err)
	}
	tooDeep := `2["a",` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `]`
	if _, err := Decode([]byte(tooDeep)); err == nil {
		t.Errorf("depth %d accepted", maxDepth+1)
	}
	if json.Valid([]byte(ok[1:])) != true || json.Valid([]byte(tooDeep[1:])) != false {
		t.Error("encoding/json's depth limit moved")
	}
}

func TestScanCodeString(t *testing.T) {
	for c := scanOK; c <= scanTrailing; c++ {
		if s := c.String(); s == "" || strings.HasPrefix(s, "scanCode(") {
			t.Errorf("scanCode %d has no name", c)
		}
	}
	_ = utf8.RuneError
}
