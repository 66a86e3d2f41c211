package presence

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sockbus/sockbus/bus"
)

// Bucket is the JetStream key-value bucket of presence.
const Bucket = "sockbus_presence"

// Kinds of scope: a Socket.IO namespace or a plain WebSocket channel.
const (
	KindIO = "io"
	KindWS = "ws"
)

// wholeScope is the room part of a namespace-wide membership key: '/'
// never comes out of keyToken, so no room name reaches it.
const wholeScope = "/"

// Where names one presence list: a Socket.IO namespace (Kind KindIO,
// Scope the namespace, Room a room or Whole for the whole namespace) or a
// plain WebSocket channel (KindWS, Scope the channel).
type Where struct {
	Kind  string
	Scope string
	Room  string
	Whole bool
}

// keyToken makes a name one key token: the subject token (bus.EncodeToken)
// with '%' as '=' and the empty name's '~' as a lone '=', which KV keys allow.
func keyToken(name string) (string, error) {
	tok, err := bus.EncodeToken(name)
	if err != nil {
		return "", err
	}
	if tok == "~" {
		return "=", nil
	}
	return strings.ReplaceAll(tok, "%", "="), nil
}

// scopeName is the name whose token stands for the scope: a namespace
// without its leading '/', as in every sockbus subject.
func (w Where) scopeName() string {
	if w.Kind == KindIO {
		return strings.TrimPrefix(w.Scope, "/")
	}
	return w.Scope
}

// prefix is the key prefix of a presence list, ending in '.'.
func (w Where) prefix() (string, error) {
	scope, err := keyToken(w.scopeName())
	if err != nil {
		return "", fmt.Errorf("failed to name presence scope: %w", err)
	}
	switch w.Kind {
	case KindWS:
		return KindWS + "." + scope + ".", nil
	case KindIO:
		room := wholeScope
		if !w.Whole {
			if room, err = keyToken(w.Room); err != nil {
				return "", fmt.Errorf("failed to name presence room: %w", err)
			}
		}
		return KindIO + "." + scope + "." + room + ".", nil
	}
	return "", fmt.Errorf("unknown presence kind %q", w.Kind)
}

// nodeKey is a node's heartbeat key.
func nodeKey(node string) string { return "n." + node }

// value is what a member key holds.
type value struct {
	Node string `json:"n"`
	User string `json:"u,omitempty"`
}

func (v value) encode() []byte {
	raw, _ := json.Marshal(v)
	return raw
}

// Member is one member of a presence list; User is nil without one.
type Member struct {
	ID   string  `json:"id"`
	User *string `json:"user"`
}

// Answer is a presence list: Count members in all, the first of them in
// Members (at most the limit asked).
type Answer struct {
	Count   int      `json:"count"`
	Members []Member `json:"members"`
}

// Event is a join or leave announced on the events subject; Room is nil
// for the whole namespace (or a channel).
type Event struct {
	Room *string `json:"room"`
	ID   string  `json:"id"`
	User *string `json:"user"`
}

func userPtr(u string) *string {
	if u == "" {
		return nil
	}
	return &u
}
