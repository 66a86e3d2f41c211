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
// once and never modified: read it from any goroutine.
//
// A session keeps its headers and query as the bytes received and parses
// them on each call of Header and Query: parsed, they were about 1 KiB of
// maps per idle connection.
type Handshake struct {
	// header holds the kept headers as "Name:value\n" lines, names in
	// sorted order (see Header).
	header string
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

// Header returns a copy of the request's headers, Host included (net/http
// moves it to Request.Host), at most MaxHandshakeHeaderBytes of names and
// values: a header that does not fit (in name order) is left out, as are the
// WebSocket handshake's own (Sec-WebSocket-Key, -Version, -Extensions).
// Each call returns a new copy.
func (h Handshake) Header() http.Header {
	n := strings.Count(h.header, "\n")
	out := make(http.Header, n)
	vals := make([]string, 0, n)
	for rest := h.header; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		k, v, _ := strings.Cut(line, ":")
		vals = append(vals, v)
		if prev := out[k]; prev != nil {
			out[k] = append(prev, v)
		} else {
			out[k] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
	}
	return out
}

// Query returns the request's parsed query (EIO, transport, t and the
// application's own parameters), parsed from URL on each call.
func (h Handshake) Query() url.Values {
	_, raw, _ := strings.Cut(h.URL, "?")
	q, _ := url.ParseQuery(raw)
	return q
}

// MaxHandshakeHeaderBytes bounds the headers a session keeps from its
// handshake for its whole life (socket.io's Node server refuses requests
// with more than 16 KiB of headers).
const MaxHandshakeHeaderBytes = 16 << 10

func newHandshake(r *http.Request) Handshake {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if r.Host != "" && r.Header != nil {
		r.Header["Host"] = []string{r.Host}
	}
	return Handshake{
		header:     keepHeader(r.Header, MaxHandshakeHeaderBytes),
		RemoteAddr: r.RemoteAddr,
		Address:    host,
		Time:       time.Now(),
		URL:        r.URL.RequestURI(),
		Secure:     r.TLS != nil,
		XDomain:    r.Header.Get("Origin") != "",
	}
}

// keepHeader returns at most max bytes of h's names and values as
// "Name:value\n" lines (the form Handshake.header keeps), names sorted.
func keepHeader(h http.Header, max int) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		switch k {
		case "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions":
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	kept, size, lines := keys[:0], 0, 0
	for _, k := range keys {
		n := len(k)
		for _, v := range h[k] {
			n += len(v)
		}
		if size+n > max {
			continue
		}
		size += n
		lines += len(h[k])
		kept = append(kept, k)
	}
	var b strings.Builder
	b.Grow(size + 2*lines)
	for _, k := range kept {
		for _, v := range h[k] {
			b.WriteString(k)
			b.WriteByte(':')
			b.WriteString(v)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
