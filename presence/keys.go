package presence

import (
	"fmt"
	"strings"

	"github.com/sockbus/sockbus/bus"
)

// Kinds of scope: a Socket.IO namespace or a plain WebSocket channel.
const (
	KindIO = "io"
	KindWS = "ws"
)

// wholeScope is the room part of a namespace-wide list's prefix: '/'
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

// keyToken makes a name one token of a list's prefix: the subject token
// (bus.EncodeToken) with '%' as '=' and the empty name's '~' as a lone '='.
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

// prefix names a presence list, ending in '.' (a list prefix and a socket
// id make a membership's name, see parseKey).
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
