// Package connlimit bounds the TCP connections a listener holds open: in
// all, and per client IP address. A connection over a bound is answered
// with a plain HTTP 503 and closed as soon as it is accepted, before it
// costs a goroutine or a buffer, and everyone else keeps being served.
//
// Start reading at Listen (connlimit.go, the only file).
package connlimit
