package wsedge

import (
	"net"
	"sync"
	"time"
)

// DefaultEventsPerAddress is the default of --max-events-per-address.
const DefaultEventsPerAddress = 1000

// AddressBudget bounds the events (Socket.IO) and messages (plain
// WebSocket) that all the connections from one client address send
// together: one token bucket per address, shared by both edges when they
// are given the same budget. An address's bucket exists while it has a
// connection open and, after its last one, until it has refilled (so
// reconnecting does not buy a fresh burst): the state is bounded by the
// connections and the addresses seen in the last burst/rate seconds. Behind
// a proxy every client has the proxy's address. A nil budget allows
// everything. Safe for concurrent use.
type AddressBudget struct {
	rate  float64
	burst int

	mu        sync.Mutex
	addrs     map[string]*AddressShare
	idle      int       // addresses without a connection, kept until refilled
	nextSweep time.Time // when idle ones are looked at again
}

// AddressShare is one address's bucket and how many connections use it.
type AddressShare struct {
	addr   string
	refs   int       // guarded by the budget's mu
	full   time.Time // with refs 0: when the bucket is full again
	bucket *TokenBucket
}

// NewAddressBudget returns a budget of rate events per second per address,
// with bursts of burst (<= 0: ten times the rate); nil (no limit) for a
// rate <= 0.
func NewAddressBudget(rate float64, burst int) *AddressBudget {
	if rate <= 0 {
		return nil
	}
	return &AddressBudget{rate: rate, burst: burst, addrs: map[string]*AddressShare{}}
}

// Acquire is a connection from remote ("host:port" or a bare host) joining
// its address's budget; Release it when the connection ends.
func (b *AddressBudget) Acquire(remote string) *AddressShare {
	if b == nil {
		return nil
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweepLocked(time.Now())
	s := b.addrs[host]
	if s == nil {
		s = &AddressShare{addr: host, bucket: NewTokenBucket(b.rate, b.burst)}
		b.addrs[host] = s
	}
	if s.refs == 0 && !s.full.IsZero() {
		b.idle--
		s.full = time.Time{}
	}
	s.refs++
	return s
}

// Release ends one connection's use of s; the last one forgets the address.
func (b *AddressBudget) Release(s *AddressShare) {
	if b == nil || s == nil {
		return
	}
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.refs--; s.refs == 0 {
		if full := s.bucket.fullAt(now); full.After(now) {
			s.full = full
			b.idle++
		} else {
			delete(b.addrs, s.addr)
		}
	}
	b.sweepLocked(now)
}

// sweepLocked forgets the idle addresses whose buckets have refilled, at
// most once a second (a pass looks at every address).
func (b *AddressBudget) sweepLocked(now time.Time) {
	if b.idle == 0 || now.Before(b.nextSweep) {
		return
	}
	b.nextSweep = now.Add(time.Second)
	for host, s := range b.addrs {
		if s.refs == 0 && !now.Before(s.full) {
			delete(b.addrs, host)
			b.idle--
		}
	}
}

// Addresses returns how many addresses the budget holds: those with a
// connection open and those whose bucket is still refilling.
func (b *AddressBudget) Addresses() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweepLocked(time.Now())
	return len(b.addrs)
}

// Allow takes one event from the address's bucket.
func (s *AddressShare) Allow() bool { return s == nil || s.bucket.Allow() }

// Addr is the address (host) s counts for; "" for a nil share.
func (s *AddressShare) Addr() string {
	if s == nil {
		return ""
	}
	return s.addr
}
