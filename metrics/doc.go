// Package metrics holds the counters sockbus's hot paths bump, with no
// dependency beyond the standard library: wsedge, its engine and any other
// package can take a *Set without importing Prometheus. Package
// metrics/prom reads a Set (and the live counts the edges report) at scrape
// time and serves them in the Prometheus text format.
//
// Where to start: a component is handed a *Set in its Config (nil counts
// nothing; every method is nil-safe and safe for concurrent use) and calls
//
//	set.Refused(metrics.ReasonOrigin)          // a client or its input was refused
//	set.Disconnected(metrics.KindSocketIO, r)  // a connection ended, by reason
//	set.Events(metrics.KindSocketIO, n, bytes) // client events in
//	set.Delivered(metrics.KindWebSocket, events, frames, bytes)
//
// Counters are plain atomic adds on fields resolved once (an array indexed
// by reason or kind, never a lookup by label string), so counting costs a
// few nanoseconds; fan-out code counts once per broadcast, not per
// receiver. Latencies go to fixed-bucket atomic histograms.
//
// Adding a refusal: pick the Reason (ReasonOrigin, ReasonAuth,
// ReasonRateLimit, ... all exported as label values from the first scrape,
// at zero), call Refused where the client is turned away, and log at warn
// through internal/ratelog so a flood of bad clients cannot flood the log.
// When the refusal closes the connection, do not call Refused yourself: an
// Engine.IO session closed with engine.Session.CloseFor(reason, r), or a
// plain WebSocket closed with a close code wsedge.CloseCode.Cause maps, is
// counted once (refusal and disconnect) and logged when it ends.
package metrics
