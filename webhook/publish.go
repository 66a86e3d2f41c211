package webhook

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/channels"
	"github.com/sockbus/sockbus/wsedge/socketio"
)

// Payload is one event as a receiver gets it, less "id" (added at
// delivery: the stored event's position).
type Payload struct {
	Type      string          `json:"type"`
	Time      string          `json:"time"` // RFC 3339, UTC, nanoseconds
	Node      string          `json:"node"`
	Namespace string          `json:"namespace,omitempty"`
	Channel   string          `json:"channel,omitempty"`
	Socket    string          `json:"socket"`
	User      *string         `json:"user"` // null when unauthenticated
	Room      *string         `json:"room,omitempty"`
	Rooms     []string        `json:"rooms,omitempty"`  // connect: rooms it is in already (granted at connect)
	Reason    string          `json:"reason,omitempty"` // disconnect
	Event     *string         `json:"event,omitempty"`
	Args      json.RawMessage `json:"args,omitempty"`
	// A plain WebSocket connection's message: a text frame's data, or a
	// binary one's in standard base64.
	Data       *string `json:"data,omitempty"`
	DataBase64 *string `json:"data_base64,omitempty"`
	// DataOmitted: the message's data did not fit in an event (a binary
	// frame near --max-message-bytes grows by a third in base64); the
	// channel's history has it.
	DataOmitted bool `json:"data_omitted,omitempty"`
}

// Publisher stores the events of this node's sockets for delivery. Its
// methods are safe for concurrent use and never block.
type Publisher struct {
	b    *bus.Bus
	cfg  Config
	warn *ratelog.Logger
	m    *metrics.Set
}

// NewPublisher publishes what cfg.Events selects on b, which must have been
// started with the webhook stream (bus.Config.Webhooks).
func NewPublisher(b *bus.Bus, cfg Config) *Publisher {
	cfg = cfg.withDefaults()
	return &Publisher{b: b, cfg: cfg, warn: ratelog.New(cfg.Logger, 0), m: cfg.Metrics}
}

// Observer is the socketio.Observer that publishes the selected events:
// hand it to socketio.Server.Observe.
func (p *Publisher) Observer() socketio.Observer {
	var o socketio.Observer
	e := p.cfg.Events
	if e.Connect {
		o.Connected = p.connected
	}
	if e.Disconnect {
		o.Disconnected = func(s *socketio.Socket, reason string) { p.socket(TypeDisconnect, s, nil, reason) }
	}
	if e.Join {
		o.Joined = func(s *socketio.Socket, room string) { p.socket(TypeJoin, s, &room, "") }
	}
	if e.Leave {
		o.Left = func(s *socketio.Socket, room string) { p.socket(TypeLeave, s, &room, "") }
	}
	if e.Event {
		o.Event = p.event
	}
	return o
}

func (p *Publisher) base(typ string, s *socketio.Socket) Payload {
	pl := Payload{
		Type:      typ,
		Time:      time.Now().UTC().Format(time.RFC3339Nano),
		Node:      p.cfg.Node,
		Namespace: s.Namespace().Name(),
		Socket:    s.ID(),
	}
	if u := s.User(); u != "" {
		pl.User = &u
	}
	return pl
}

func (p *Publisher) socket(typ string, s *socketio.Socket, room *string, reason string) {
	pl := p.base(typ, s)
	pl.Room, pl.Reason = room, reason
	p.publish(s.ID(), pl)
}

func (p *Publisher) connected(s *socketio.Socket) {
	pl := p.base(TypeConnect, s)
	for _, r := range s.Rooms() {
		if r != s.ID() {
			pl.Rooms = append(pl.Rooms, r)
		}
	}
	p.publish(s.ID(), pl)
}

func (p *Publisher) event(e *socketio.Event) {
	if !p.cfg.Events.sendsEvent(e.Name) {
		return
	}
	s := e.Socket()
	pl := p.base(TypeEvent, s)
	name := e.Name
	pl.Event = &name
	if json.Valid(e.Args) {
		pl.Args = e.Args // binary arguments stay {"_placeholder":true,"num":i}
	}
	p.publish(s.ID(), pl)
}

// ChannelObserver is the channels.Observer that publishes the selected
// events of plain WebSocket connections: hand it to channels.Server.Observe.
// A message is an "event" with "data" (or "data_base64"), no name: it is
// sent when every client event is ("event"), not with name patterns only.
func (p *Publisher) ChannelObserver() channels.Observer {
	var o channels.Observer
	e := p.cfg.Events
	if e.Connect {
		o.Connected = func(c channels.Conn) { p.publish(c.ID, p.channelBase(TypeConnect, c)) }
	}
	if e.Disconnect {
		o.Disconnected = func(c channels.Conn, reason string) {
			pl := p.channelBase(TypeDisconnect, c)
			pl.Reason = reason
			p.publish(c.ID, pl)
		}
	}
	if e.Event && len(e.Names) == 0 {
		o.Message = p.channelMessage
	}
	return o
}

func (p *Publisher) channelBase(typ string, c channels.Conn) Payload {
	pl := Payload{
		Type:    typ,
		Time:    time.Now().UTC().Format(time.RFC3339Nano),
		Node:    p.cfg.Node,
		Channel: c.Channel,
		Socket:  c.ID,
	}
	if c.User != "" {
		pl.User = &c.User
	}
	return pl
}

func (p *Publisher) channelMessage(c channels.Conn, data []byte, binary bool) {
	pl := p.channelBase(TypeEvent, c)
	s := string(data)
	if binary {
		s = base64.StdEncoding.EncodeToString(data)
		pl.DataBase64 = &s
	} else {
		pl.Data = &s
	}
	body, err := json.Marshal(pl)
	if err == nil && len(body) > p.cfg.MaxPayload+maxEnvelope {
		pl.Data, pl.DataBase64, pl.DataOmitted = nil, nil, true
		body, err = json.Marshal(pl)
	}
	p.publishBody(c.ID, body, err)
}

// maxEnvelope is what an event may add to a message of --max-message-bytes
// and still be stored: the bus takes 64 KiB more than that, for headers.
const maxEnvelope = 32 << 10

// publish stores pl in the partition of key (the socket id: its events
// stay in order).
func (p *Publisher) publish(key string, pl Payload) {
	body, err := json.Marshal(pl)
	p.publishBody(key, body, err)
}

// publishBody stores an event's body, unless encoding it failed (err).
func (p *Publisher) publishBody(key string, body []byte, err error) {
	if err == nil {
		err = p.b.PublishWebhook(key, body, p.stored)
	}
	if err != nil {
		p.stored(fmt.Errorf("failed to publish a webhook event: %w", err))
	}
}

// stored counts and warns about an event that was not stored.
func (p *Publisher) stored(err error) {
	if err == nil {
		return
	}
	p.m.Webhook(metrics.WebhookNotStored)
	p.warn.Warn("webhook event not stored: it will not be delivered", "err", err)
}
