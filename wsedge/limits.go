package wsedge

import (
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// Reasons a client event is refused; an event that asked for an ack gets
// [{"error": <reason>}] (docs/socketio.md, "Error acks").
const (
	ErrAckRateLimited  = "rate limit exceeded"
	ErrAckNameTooLong  = "event name longer than 255 bytes"
	ErrAckNotStored    = "event not stored"
	ErrAckNotDelivered = "event not delivered"
)

// ReasonRateLimited ends a connection that sent events over its rate
// without asking for acks (plain WebSocket: close code CloseRateLimited).
const ReasonRateLimited = "rate limit exceeded"

// CloseRateLimited closes a plain WebSocket that sent over its rate.
const CloseRateLimited CloseCode = 4029

// Defaults of the per-connection limits.
const (
	DefaultMaxNamespaces = 128
	// DefaultMaxConnectRefusals: refused CONNECTs that close a connection.
	DefaultMaxConnectRefusals = 16
	DefaultMaxRooms           = 1000
	DefaultEventsPerSecond    = 100
)

// tokenBucket allows rate events per second with bursts of burst. A nil
// bucket allows everything.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

// newTokenBucket returns nil (no limit) for a negative rate; burst <= 0 is
// ten times the rate (a page load, a reconnect flushing its buffer).
func newTokenBucket(rate float64, burst int) *tokenBucket {
	if rate < 0 {
		return nil
	}
	b := float64(burst)
	if b <= 0 {
		b = 10 * rate
	}
	if b < 1 {
		b = 1
	}
	return &tokenBucket{rate: rate, burst: b, tokens: b, last: time.Now()}
}

func (b *tokenBucket) allow() bool {
	if b == nil {
		return true
	}
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens += now.Sub(b.last).Seconds() * b.rate
	b.last = now
	if b.tokens > b.burst {
		b.tokens = b.burst
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// maxRefill bounds fullAt's answer (an absurdly slow rate).
const maxRefill = time.Hour

// fullAt is when the bucket will be full again if nothing is taken.
func (b *tokenBucket) fullAt(now time.Time) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	tokens := b.tokens + now.Sub(b.last).Seconds()*b.rate
	if tokens >= b.burst || b.rate <= 0 {
		return now
	}
	return now.Add(time.Duration(min((b.burst-tokens)/b.rate, maxRefill.Seconds()) * float64(time.Second)))
}

// AckError answers the client's acknowledgement with one argument,
// {"error": reason}: the shape of every refusal sockbus acks.
func (e *Event) AckError(reason string) error {
	body, _ := json.Marshal([]map[string]string{{"error": reason}})
	return e.AckRaw(body, nil)
}

// ErrTooManyRooms: a Join past Config.MaxRooms.
var ErrTooManyRooms = errors.New("wsedge: too many rooms for one socket")
