package metrics

import (
	"sync/atomic"
	"time"
)

// Kind is the product a connection speaks.
type Kind uint8

// Kinds, with their label values.
const (
	KindSocketIO  Kind = iota // "socketio": Engine.IO / Socket.IO clients
	KindWebSocket             // "websocket": plain WebSocket channel clients
	numKinds
)

var kindLabels = [numKinds]string{"socketio", "websocket"}

// String is the kind's label value.
func (k Kind) String() string { return kindLabels[k] }

// Kinds lists every kind, for exporters.
func Kinds() []Kind { return []Kind{KindSocketIO, KindWebSocket} }

// Reason is why a client was refused or a connection ended.
type Reason uint8

// Reasons, with their label values. The first eight are refusals: the
// server turned a client or its input away (Refused); every reason may end
// a connection (Disconnected).
const (
	ReasonSlowConsumer   Reason = iota // "slow_consumer": outbound queue over its bounds
	ReasonOversize                     // "oversize": frame or POST over the payload limit
	ReasonBadUTF8                      // "bad_utf8": text frame not valid UTF-8
	ReasonOrigin                       // "origin": Origin not allowed
	ReasonAuth                         // "auth": credentials refused
	ReasonRateLimit                    // "rate_limit": client over a rate limit
	ReasonConnLimit                    // "conn_limit": over --max-connections or --max-connections-per-ip
	ReasonPingTimeout                  // "ping_timeout": no pong in time
	ReasonClientClose                  // "client_close": the client closed
	ReasonTransportError               // "transport_error": I/O error or aborted transport
	ReasonParseError                   // "parse_error": undecodable packet
	ReasonForcedClose                  // "forced_close": closed by the application
	ReasonShutdown                     // "shutdown": the server is shutting down
	ReasonBusError                     // "bus_error": the bus could not take a message
	ReasonOther                        // "other": any other reason
	numReasons
)

// numRefusals counts the reasons that are refusals (the first eight).
const numRefusals = int(ReasonPingTimeout) + 1

var reasonLabels = [numReasons]string{
	"slow_consumer", "oversize", "bad_utf8", "origin", "auth", "rate_limit", "conn_limit", "ping_timeout",
	"client_close", "transport_error", "parse_error", "forced_close", "shutdown", "bus_error", "other",
}

// String is the reason's label value.
func (r Reason) String() string {
	if r >= numReasons {
		return reasonLabels[ReasonOther]
	}
	return reasonLabels[r]
}

// Refusal reports whether r is a refusal (the client's fault) rather than
// an ordinary end of a connection.
func (r Reason) Refusal() bool { return int(r) < numRefusals }

// RefusalReasons lists the reasons Refused takes, for exporters.
func RefusalReasons() []Reason {
	out := make([]Reason, numRefusals)
	for i := range out {
		out[i] = Reason(i)
	}
	return out
}

// DisconnectReasons lists every reason, for exporters.
func DisconnectReasons() []Reason {
	out := make([]Reason, numReasons)
	for i := range out {
		out[i] = Reason(i)
	}
	return out
}

// Outcome is how a Socket.IO connection's recovery or history request ended.
type Outcome uint8

// Outcomes, with their label values.
const (
	RecoveryRecovered   Outcome = iota // "recovered": session restored, missed events replayed
	RecoveryNoSession                  // "fresh_no_session": unknown or expired session
	RecoveryBadOffset                  // "fresh_bad_offset": offset unreadable or from another epoch
	RecoveryHistoryGone                // "fresh_history_gone": the stream no longer holds the position
	RecoveryFailed                     // "failed": the replay broke off; the connection was closed
	HistoryServed                      // "history_served": a late joiner's history (auth.history, ?history=N) sent
	HistoryFailed                      // "history_failed": reading a late joiner's history failed
	numOutcomes
)

var outcomeLabels = [numOutcomes]string{
	"recovered", "fresh_no_session", "fresh_bad_offset", "fresh_history_gone", "failed",
	"history_served", "history_failed",
}

// String is the outcome's label value.
func (o Outcome) String() string { return outcomeLabels[o] }

// Outcomes lists every outcome, for exporters.
func Outcomes() []Outcome {
	out := make([]Outcome, numOutcomes)
	for i := range out {
		out[i] = Outcome(i)
	}
	return out
}

// Set is one server's counters. The zero value is ready; a nil *Set counts
// nothing. All methods are safe for concurrent use.
type Set struct {
	eventsIn, bytesIn     [numKinds]atomic.Uint64
	eventsOut, deliveries [numKinds]atomic.Uint64
	bytesOut              [numKinds]atomic.Uint64
	refused               [numRefusals]atomic.Uint64
	disconnects           [numKinds][numReasons]atomic.Uint64
	outcomes              [numOutcomes]atomic.Uint64
	publishErrors         atomic.Uint64
	adminLogins           [numAdminLogins]atomic.Uint64
	roomOps               [numRoomOps][2]atomic.Uint64 // ok, refused
	webhooks              [numWebhookOutcomes]atomic.Uint64
	apiRequests           [numAPIEndpoints][numAPIStatuses]atomic.Uint64

	// AckLatency is the time from an emit with an ack to the client's
	// answer; StoreLatency from a publish to JetStream's acknowledgement.
	AckLatency, StoreLatency Histogram

	presence presenceCounters
}

// Events counts n client messages of kind, totalling bytes, received.
func (s *Set) Events(k Kind, n, bytes int) {
	if s == nil {
		return
	}
	s.eventsIn[k].Add(uint64(n))
	s.bytesIn[k].Add(uint64(bytes))
}

// Delivered counts one bus message of kind fanned out to this node's
// clients: frames queued in all, bytes their total size.
func (s *Set) Delivered(k Kind, frames, bytes int) {
	if s == nil {
		return
	}
	s.eventsOut[k].Add(1)
	if frames > 0 {
		s.deliveries[k].Add(uint64(frames))
		s.bytesOut[k].Add(uint64(bytes))
	}
}

// Refused counts a client or a client's input turned away. Reasons past
// ReasonPingTimeout are not refusals and are ignored.
func (s *Set) Refused(r Reason) {
	if s == nil || int(r) >= numRefusals {
		return
	}
	s.refused[r].Add(1)
}

// Disconnected counts a connection of kind ended for r.
func (s *Set) Disconnected(k Kind, r Reason) {
	if s == nil {
		return
	}
	if r >= numReasons {
		r = ReasonOther
	}
	s.disconnects[k][r].Add(1)
}

// Outcome counts a recovery or history outcome.
func (s *Set) Outcome(o Outcome) {
	if s == nil || o >= numOutcomes {
		return
	}
	s.outcomes[o].Add(1)
}

// PublishError counts a publish the bus refused or failed to store.
func (s *Set) PublishError() {
	if s != nil {
		s.publishErrors.Add(1)
	}
}

// ObserveAck records one ack round trip that began at start.
func (s *Set) ObserveAck(start time.Time) {
	if s != nil {
		s.AckLatency.Observe(time.Since(start))
	}
}

// ObserveStore records one store acknowledgement for a publish begun at start.
func (s *Set) ObserveStore(start time.Time) {
	if s != nil {
		s.StoreLatency.Observe(time.Since(start))
	}
}

// On reports whether s counts anything (callers skip timing work when not).
func (s *Set) On() bool { return s != nil }

// Snapshot is a Set's values at one moment, for exporters and tests.
type Snapshot struct {
	EventsIn, BytesIn, EventsOut, Deliveries, BytesOut [numKinds]uint64
	Refused                                            [numRefusals]uint64
	Disconnects                                        [numKinds][numReasons]uint64
	Outcomes                                           [numOutcomes]uint64
	PublishErrors                                      uint64
	AdminLogins                                        [numAdminLogins]uint64
	// RoomOps counts client room operations: [op][0] done, [op][1] refused.
	RoomOps                  [numRoomOps][2]uint64
	Webhooks                 [numWebhookOutcomes]uint64
	APIRequests              [numAPIEndpoints][numAPIStatuses]uint64
	AckLatency, StoreLatency HistogramSnapshot
}

// Snapshot reads every counter (each atomically; not one consistent cut).
func (s *Set) Snapshot() Snapshot {
	var out Snapshot
	if s == nil {
		return out
	}
	for k := range numKinds {
		out.EventsIn[k] = s.eventsIn[k].Load()
		out.BytesIn[k] = s.bytesIn[k].Load()
		out.EventsOut[k] = s.eventsOut[k].Load()
		out.Deliveries[k] = s.deliveries[k].Load()
		out.BytesOut[k] = s.bytesOut[k].Load()
		for r := range numReasons {
			out.Disconnects[k][r] = s.disconnects[k][r].Load()
		}
	}
	for r := range numRefusals {
		out.Refused[r] = s.refused[r].Load()
	}
	for o := range numOutcomes {
		out.Outcomes[o] = s.outcomes[o].Load()
	}
	out.PublishErrors = s.publishErrors.Load()
	for r := range numAdminLogins {
		out.AdminLogins[r] = s.adminLogins[r].Load()
	}
	for o := range numWebhookOutcomes {
		out.Webhooks[o] = s.webhooks[o].Load()
	}
	for e := range numAPIEndpoints {
		for i := range numAPIStatuses {
			out.APIRequests[e][i] = s.apiRequests[e][i].Load()
		}
	}
	for o := range numRoomOps {
		out.RoomOps[o][0] = s.roomOps[o][0].Load()
		out.RoomOps[o][1] = s.roomOps[o][1].Load()
	}
	out.AckLatency = s.AckLatency.Snapshot()
	out.StoreLatency = s.StoreLatency.Snapshot()
	return out
}
