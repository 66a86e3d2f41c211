package socketio

import (
	"slices"
	"testing"
)

// A connection's sockets: one namespace keeps no map, a second makes one,
// and either way a socket is found, replaced and removed by its namespace.
func TestSocketSet(t *testing.T) {
	sock := func(ns string) *Socket { return &Socket{ns: &Namespace{name: ns}} }
	a, b, a2 := sock("/a"), sock("/b"), sock("/a")
	var ss socketSet
	if ss.len() != 0 || ss.get("/a") != nil || ss.list() != nil || ss.remove(a) {
		t.Fatal("empty set")
	}
	ss.put(a)
	if ss.many != nil || ss.get("/a") != a || ss.get("/b") != nil || ss.len() != 1 {
		t.Fatalf("one socket: %+v", ss)
	}
	ss.put(a2) // the same namespace: replaced
	if ss.many != nil || ss.get("/a") != a2 || ss.remove(a) {
		t.Fatalf("replaced: %+v", ss)
	}
	ss.put(b)
	if ss.many == nil || ss.get("/a") != a2 || ss.get("/b") != b || ss.len() != 2 {
		t.Fatalf("two sockets: %+v", ss)
	}
	got := ss.list()
	if len(got) != 2 || !slices.Contains(got, a2) || !slices.Contains(got, b) {
		t.Fatalf("list = %v", got)
	}
	if ss.remove(a) || !ss.remove(a2) || ss.get("/a") != nil || ss.len() != 1 {
		t.Fatalf("after remove: %+v", ss)
	}
	ss.clear()
	if ss.len() != 0 || ss.list() != nil {
		t.Fatal("cleared set not empty")
	}
	if ss.remove(nil) {
		t.Fatal("removed nil from an empty set")
	}
}
