package handlers

import (
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/sockbus/sockbus/wsedge/socketio"
)

// SerializedSocket is a socket as the admin UI shows it
// (typed-events.d.ts, SerializedSocket).
type SerializedSocket struct {
	ID        string         `json:"id"`
	ClientID  string         `json:"clientId"`
	Transport string         `json:"transport"`
	Nsp       string         `json:"nsp"`
	Data      map[string]any `json:"data"`
	Handshake AdminHandshake `json:"handshake"`
	Rooms     []string       `json:"rooms"`
}

// AdminHandshake is a socket's handshake as socket.io serializes it, with
// the client's credentials redacted (see redacted) and without its auth
// payload: an admin needs to see who connected, not to log in as them.
type AdminHandshake struct {
	Address string            `json:"address"`
	Headers map[string]string `json:"headers"`
	Query   map[string]string `json:"query"`
	Issued  int64             `json:"issued"`
	Secure  bool              `json:"secure"`
	Time    string            `json:"time"`
	URL     string            `json:"url"`
	XDomain bool              `json:"xdomain"`
}

// redactedValue replaces the value of a header or query parameter that may
// hold a credential; its name stays, so the admin sees that it was sent.
const redactedValue = "[redacted]"

// secretWords mark header and query parameter names that may carry a
// credential (token, access_token, Authorization, Cookie, X-Api-Key,
// password, secret, sig, jwt, session...).
var secretWords = []string{"token", "auth", "cookie", "key", "secret", "pass", "sig", "jwt", "session", "credential"}

// redacted reports whether a header or query parameter's value is hidden
// from the admin UI. "sid" is the Engine.IO session id: whoever has it can
// poll the client's packets.
func redacted(name string) bool {
	name = strings.ToLower(name)
	if name == "sid" {
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// redactedURL is the request URI with redacted query values.
func redactedURL(uri string) string {
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		path, _, _ := strings.Cut(uri, "?")
		return path
	}
	q := u.Query()
	for k := range q {
		if redacted(k) {
			q[k] = []string{redactedValue}
		}
	}
	u.RawQuery = q.Encode()
	return u.RequestURI()
}

func serializeSocket(s *socketio.Socket) SerializedSocket {
	hs := s.Handshake()
	header, q := hs.Header(), hs.Query()
	headers := make(map[string]string, len(header))
	for k, v := range header {
		k = strings.ToLower(k)
		if redacted(k) {
			headers[k] = redactedValue
			continue
		}
		headers[k] = strings.Join(v, ", ")
	}
	query := make(map[string]string, len(q))
	for k, v := range q {
		switch {
		case redacted(k):
			query[k] = redactedValue
		case len(v) > 0:
			query[k] = v[0]
		}
	}
	rooms := s.Rooms()
	sort.Strings(rooms[1:]) // its own id first
	return SerializedSocket{
		// The Engine.IO connection: sockets of one connection (one per
		// namespace) share it, each connection has its own.
		ID: s.ID(), ClientID: s.ClientID(), Transport: s.Transport(), Nsp: s.Namespace().Name(),
		Data: s.Data(), Rooms: rooms,
		Handshake: AdminHandshake{
			Address: hs.Address, Headers: headers, Query: query,
			Issued: hs.Time.UnixMilli(), Secure: hs.Secure,
			Time: hs.Time.UTC().Format(time.RFC1123), URL: redactedURL(hs.URL), XDomain: hs.XDomain,
		},
	}
}
