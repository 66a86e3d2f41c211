package presence

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/metrics"
)

// Query answers who is in where, on every node: the members of live nodes,
// in the order they joined, at most Config.MaxList of them listed. It
// reads this node's memory: no round trip.
func (r *Registry) Query(ctx context.Context, w Where) (Answer, error) {
	if r.cfg.Metrics != nil {
		r.cfg.Metrics.PresenceQuery(metrics.PresenceAnswered)
	}
	prefix, err := w.prefix()
	if err != nil {
		return Answer{}, err
	}
	if err := ctx.Err(); err != nil {
		return Answer{}, fmt.Errorf("failed to read presence: %w", err)
	}
	type listed struct {
		id, user string
		at       int64
	}
	now := time.Now()
	var in []listed
	sources := 0
	r.mu.Lock()
	if list := r.local[prefix]; len(list) > 0 {
		sources++
		for id, l := range list {
			in = append(in, listed{id, l.user, l.at})
		}
	}
	for _, p := range r.peers {
		if list := p.lists[prefix]; len(list) > 0 && r.aliveLocked(p, now) { // else its node died
			sources++
			for id, m := range list {
				in = append(in, listed{id, m.user, m.at})
			}
		}
	}
	r.mu.Unlock()
	if sources > 1 { // a socket back after a drop may be held twice for a while
		slices.SortFunc(in, func(a, b listed) int { return cmp.Or(strings.Compare(a.id, b.id), cmp.Compare(a.at, b.at)) })
		in = slices.CompactFunc(in, func(a, b listed) bool { return a.id == b.id })
	}
	slices.SortFunc(in, func(a, b listed) int { return cmp.Or(cmp.Compare(a.at, b.at), strings.Compare(a.id, b.id)) })
	a := Answer{Count: len(in), Members: make([]Member, 0, min(len(in), r.cfg.MaxList))}
	for _, m := range in[:min(len(in), r.cfg.MaxList)] {
		a.Members = append(a.Members, Member{ID: m.id, User: userPtr(m.user)})
	}
	return a, nil
}

// answer serves PresenceQuerySubject: body the room as a JSON string, or
// null or nothing for the whole namespace (channels take no body).
// It runs on a goroutine of its own: sorting a large list must not hold
// the connection's delivery.
func (r *Registry) answer(m *bus.Msg) {
	if m.Reply == "" {
		return
	}
	select {
	case r.answering <- struct{}{}:
	default: // as many reads in flight as allowed: the asker retries
		raw, _ := json.Marshal(map[string]string{"error": "busy"})
		_ = r.b.PublishLive(&bus.Msg{Subject: m.Reply, Data: raw})
		return
	}
	go func() {
		defer func() { <-r.answering }()
		r.answerQuery(m)
	}()
}

// maxAnswering bounds the backend queries one node reads at once.
const maxAnswering = 64

func (r *Registry) answerQuery(m *bus.Msg) {
	reply := func(v any) {
		raw, _ := json.Marshal(v)
		_ = r.b.PublishLive(&bus.Msg{Subject: m.Reply, Data: raw})
	}
	kind, tok, _, ok := bus.ParsePresenceSubject(m.Subject)
	scope, err := bus.DecodeToken(tok)
	if !ok || err != nil || (kind != KindIO && kind != KindWS) {
		reply(map[string]string{"error": "bad presence subject"})
		return
	}
	if kind == KindIO {
		scope = "/" + scope
	}
	w := Where{Kind: kind, Scope: scope, Whole: true}
	if kind == KindIO && len(m.Data) > 0 {
		var room *string
		if err := json.Unmarshal(m.Data, &room); err != nil {
			reply(map[string]string{"error": "body: a room as a JSON string, or null"})
			return
		}
		if room != nil {
			w.Room, w.Whole = *room, false
		}
	}
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	a, err := r.Query(ctx, w)
	if err != nil {
		reply(map[string]string{"error": err.Error()})
		return
	}
	reply(a)
}

// parseKey reads a list prefix and socket id back.
func parseKey(key string) (Where, string, bool) {
	parts := strings.Split(key, ".")
	var w Where
	var err error
	switch {
	case len(parts) == 4 && parts[0] == KindIO:
		w.Kind = KindIO
		if parts[2] == wholeScope {
			w.Whole = true
		} else if w.Room, err = fromKeyToken(parts[2]); err != nil {
			return w, "", false
		}
	case len(parts) == 3 && parts[0] == KindWS:
		w.Kind = KindWS
	default:
		return w, "", false
	}
	if w.Scope, err = fromKeyToken(parts[1]); err != nil {
		return w, "", false
	}
	if w.Kind == KindIO {
		w.Scope = "/" + w.Scope
	}
	return w, parts[len(parts)-1], true
}

func fromKeyToken(tok string) (string, error) {
	if tok == "=" {
		return "", nil
	}
	return bus.DecodeToken(strings.ReplaceAll(tok, "=", "%"))
}
