package wsedge

import (
	"sync"
	"time"
)

// DefaultEventsPerSecond is the default per-connection rate of client
// events (Socket.IO) and messages (plain WebSocket).
const DefaultEventsPerSecond = 100

// DefaultMaxHistory caps ?history=N and auth.history (socketio.Config.MaxHistory,
// channels.Config.MaxHistory, --max-history).
const DefaultMaxHistory = 1000

// TokenBucket allows rate events per second with bursts of burst. A nil
// bucket allows everything.
type TokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

// NewTokenBucket returns nil (no limit) for a negative rate; burst <= 0 is
// ten times the rate (a page load, a reconnect flushing its buffer).
func NewTokenBucket(rate float64, burst int) *TokenBucket {
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
	return &TokenBucket{rate: rate, burst: b, tokens: b, last: time.Now()}
}

// Allow takes one token, reporting false when none is left.
func (b *TokenBucket) Allow() bool {
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
func (b *TokenBucket) fullAt(now time.Time) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	tokens := b.tokens + now.Sub(b.last).Seconds()*b.rate
	if tokens >= b.burst || b.rate <= 0 {
		return now
	}
	return now.Add(time.Duration(min((b.burst-tokens)/b.rate, maxRefill.Seconds()) * float64(time.Second)))
}
