package engine

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Handshake describes the HTTP request that opened a session. It is filled
// once and never modified: read it from any goroutine, do not write it.
type Handshake struct {
	// Header is a copy of the request's headers, Host included (net/http
	// moves it to Request.Host), at most MaxHandshakeHeaderBytes of names
	// and values: a header that does not fit (in name order) is left out,
	// as are the WebSocket handshake's own (Sec-WebSocket-Key, -Version,
	// -Extensions).
	Header http.Header
	// Query is the request's parsed query (EIO, transport, t and the
	// application's own parameters).
	Query url.Values
	// RemoteAddr is the connection's address as net/http gives it
	// ("host:port"); Address is its host part. Proxies are not consulted.
	RemoteAddr string
	Address    string
	// Time is when the handshake was received.
	Time time.Time
	// URL is the request URI as received: path and query.
	URL string
	// Secure reports whether the request came over TLS.
	Secure bool
	// XDomain reports whether the request carried an Origin header.
	XDomain bool
}

// MaxHandshakeHeaderBytes bounds the headers a session keeps from its
// handshake for its whole life (socket.io's Node server refuses requests
// with more than 16 KiB of headers).
const MaxHandshakeHeaderBytes = 16 << 10

func newHandshake(r *http.Request, q url.Values) Handshake {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if r.Host != "" && r.Header != nil {
		r.Header["Host"] = []string{r.Host}
	}
	return Handshake{
		Header:     copyHeader(r.Header, MaxHandshakeHeaderBytes),
		Query:      q,
		RemoteAddr: r.RemoteAddr,
		Address:    host,
		Time:       time.Now(),
		URL:        r.URL.RequestURI(),
		Secure:     r.TLS != nil,
		XDomain:    r.Header.Get("Origin") != "",
	}
}

// copyHeader copies at most max bytes of h's names and values into one
// string that the copy's entries share, so a session holds exactly what it
// kept and nothing of the request.
func copyHeader(h http.Header, max int) http.Header {
	keys := make([]string, 0, len(h))
	for k := range h {
		switch k {
		case "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions":
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	kept, size, values := keys[:0], 0, 0
	for _, k := range keys {
		n := len(k)
		for _, v := range h[k] {
			n += len(v)
		}
		if size+n > max {
			continue
		}
		size += n
		values += len(h[k])
		kept = append(kept, k)
	}
	var b strings.Builder
	b.Grow(size)
	for _, k := range kept {
		b.WriteString(k)
		for _, v := range h[k] {
			b.WriteString(v)
		}
	}
	all, off := b.String(), 0
	take := func(n int) string {
		s := all[off : off+n]
		off += n
		return s
	}
	out := make(http.Header, len(kept))
	vals := make([]string, values)
	for _, k := range kept {
		key := take(len(k))
		n := len(h[k])
		vs := vals[:n:n]
		vals = vals[n:]
		for i, v := range h[k] {
			vs[i] = take(len(v))
		}
		out[key] = vs
	}
	return out
}
