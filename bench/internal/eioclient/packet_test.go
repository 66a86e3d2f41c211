package eioclient

import "testing"

func TestParsePacket(t *testing.T) {
	for _, c := range []struct {
		in, prefix string
		ok         bool
		typ        byte
		id         int64
		data       string
	}{
		{`0{"sid":"x"}`, "", true, '0', NoAck, `{"sid":"x"}`},
		{`0/fan,{"sid":"x","pid":"p"}`, "/fan,", true, '0', NoAck, `{"sid":"x","pid":"p"}`},
		{`2/fan,["m",1,2]`, "/fan,", true, '2', NoAck, `["m",1,2]`},
		{`2/fan,["m",1,2]`, "", false, 0, 0, ""},
		{`2["m",1,2]`, "/fan,", false, 0, 0, ""},
		{`3/a,17[]`, "/a,", true, '3', 17, `[]`},
		{`317[]`, "", true, '3', 17, `[]`},
		{`1/a`, "/a,", true, '1', NoAck, ``},
		{`51-/a,["b",{"_placeholder":true,"num":0}]`, "/a,", true, '5', NoAck, `["b",{"_placeholder":true,"num":0}]`},
		{``, "", false, 0, 0, ""},
	} {
		p, ok := parsePacket([]byte(c.in), c.prefix)
		if ok != c.ok {
			t.Errorf("%q: ok %v", c.in, ok)
			continue
		}
		if ok && (p.typ != c.typ || p.ackID != c.id || string(p.data) != c.data) {
			t.Errorf("%q: got %c %d %q", c.in, p.typ, p.ackID, p.data)
		}
	}
}

func TestAppendEvent(t *testing.T) {
	if got := string(AppendEvent(nil, "/a,", 7, []byte(`["x"]`))); got != `42/a,7["x"]` {
		t.Error(got)
	}
	if got := string(AppendEvent(nil, Prefix("/"), NoAck, []byte(`["x"]`))); got != `42["x"]` {
		t.Error(got)
	}
}

func TestLeadingInts(t *testing.T) {
	a, b, ok := LeadingInts([]byte(`["m",123,45,"pad","off-9"]`))
	if !ok || a != 123 || b != 45 {
		t.Error(a, b, ok)
	}
	a, b, ok = LeadingInts([]byte(`99,7,xxxx`))
	if !ok || a != 99 || b != 7 {
		t.Error(a, b, ok)
	}
	if _, _, ok := LeadingInts([]byte(`["m"]`)); ok {
		t.Error("want not ok")
	}
}

func TestLastString(t *testing.T) {
	for in, want := range map[string]string{
		`["m",1,"pad","1-5"]`: "1-5",
		`["m",1]`:             "",
		`["m","a\"b"]`:        "",
		`["only"]`:            "only",
		`[]`:                  "",
		`["m",{"k":"v"}]`:     "",
	} {
		if got := LastString([]byte(in)); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}
