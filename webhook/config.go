package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sockbus/sockbus/auth"
	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/metrics"
)

// Config configures both the Publisher and the Deliverer. The zero value
// has no receivers: nothing is published or delivered.
type Config struct {
	// URLs are the receivers; each gets every event.
	URLs []string
	// Secret signs every delivery (SignatureHeader). Empty: unsigned.
	Secret string
	// Events selects what is sent (ParseEvents). Zero: everything.
	Events Events
	// Node names this node in the events it publishes.
	Node string
	// Timeout bounds one POST. Default DefaultTimeout.
	Timeout time.Duration
	// MaxBackoff bounds the wait between retries of one event (it doubles
	// from FirstBackoff). Default DefaultMaxBackoff.
	MaxBackoff time.Duration
	// FirstBackoff is the wait after an event's first failed attempt.
	// Default DefaultFirstBackoff.
	FirstBackoff time.Duration
	// MaxAge gives an event up once it is this old (the stream drops it
	// then anyway). Default 24h.
	MaxAge time.Duration
	// MaxPayload is the bus's (bus.Config.MaxPayload, --max-message-bytes):
	// a channel message whose event would not fit in it plus 32 KiB is
	// sent without its data (DataOmitted). Default bus.DefaultMaxPayload.
	MaxPayload int
	// Logger gets the warnings (rate-limited). Default slog.Default().
	Logger *slog.Logger
	// Metrics counts deliveries, failures and events given up. May be nil.
	Metrics *metrics.Set
}

// Defaults of Config.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxBackoff   = 10 * time.Second
	DefaultFirstBackoff = 200 * time.Millisecond
	defaultMaxAge       = 24 * time.Hour
)

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.FirstBackoff <= 0 {
		c.FirstBackoff = DefaultFirstBackoff
	}
	if c.MaxAge <= 0 {
		c.MaxAge = defaultMaxAge
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = bus.DefaultMaxPayload
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Events.none() {
		c.Events = allEvents
	}
	return c
}

// On reports whether any receiver is configured.
func (c Config) On() bool { return len(c.URLs) > 0 }

// AckWait is how long a node keeps an event it took without renewing it
// (bus.WebhookConfig.AckWait): the deliverer renews every keepEvery while
// it holds one. A node that dies (or stops: JetStream keeps a handed-back
// event pending until it is sent again) loses the event to another node,
// or to its own next start, after this.
const AckWait = 5 * time.Second

// keepEvery is how often a held event is renewed (InProgress).
const keepEvery = AckWait / 3

// ReceiverKey is a receiver's queue name: a hash of its URL, so a URL's
// credentials never appear in a consumer name.
func ReceiverKey(url string) string {
	sum := sha256.Sum256([]byte(url))
	return hex.EncodeToString(sum[:8])
}

// ReceiverKeys are the keys of every configured URL.
func (c Config) ReceiverKeys() []string {
	keys := make([]string, 0, len(c.URLs))
	for _, u := range c.URLs {
		keys = append(keys, ReceiverKey(u))
	}
	return keys
}

// Event types.
const (
	TypeConnect    = "connect"
	TypeDisconnect = "disconnect"
	TypeJoin       = "join"
	TypeLeave      = "leave"
	TypeEvent      = "event"
)

// Events selects the event types sent; client events may be limited to
// names matching patterns.
type Events struct {
	Connect, Disconnect, Join, Leave bool
	// Event sends clients' events; with Names only those whose name
	// matches one of them ('*' matches any run of bytes).
	Event bool
	Names auth.Patterns
}

// none reports whether e selects nothing (the zero value).
func (e Events) none() bool {
	return !e.Connect && !e.Disconnect && !e.Join && !e.Leave && !e.Event
}

var allEvents = Events{Connect: true, Disconnect: true, Join: true, Leave: true, Event: true}

// ParseEvents reads --webhook-events: any of connect, disconnect, join,
// leave, event, and event:<pattern> (repeatable) for the client events
// whose name matches. Empty: everything.
func ParseEvents(list []string) (Events, error) {
	var e Events
	var names []string
	for _, w := range list {
		w = strings.TrimSpace(w)
		switch {
		case w == TypeConnect:
			e.Connect = true
		case w == TypeDisconnect:
			e.Disconnect = true
		case w == TypeJoin:
			e.Join = true
		case w == TypeLeave:
			e.Leave = true
		case w == TypeEvent:
			e.Event = true
		case strings.HasPrefix(w, TypeEvent+":") && len(w) > len(TypeEvent)+1:
			names = append(names, w[len(TypeEvent)+1:])
		case w == "":
		default:
			return Events{}, fmt.Errorf("webhook: unknown event type %q (want connect, disconnect, join, leave, event or event:<pattern>)", w)
		}
	}
	if len(names) > 0 && !e.Event {
		e.Event, e.Names = true, names
	}
	if e.none() {
		return allEvents, nil
	}
	return e, nil
}

// sendsEvent reports whether a client event named name is sent.
func (e Events) sendsEvent(name string) bool {
	if !e.Event {
		return false
	}
	return len(e.Names) == 0 || e.Names.Match(name)
}
