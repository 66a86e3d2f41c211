package bus

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sockbus/sockbus/internal/randid"
)

// MaxNameLen bounds every client-chosen name (channel, namespace, room,
// event) so that no subject can approach the server's 4096-byte limit.
const MaxNameLen = 255

// emptyToken stands for the empty name. EncodeToken never produces '~' for
// any other name because it always escapes '~'.
const emptyToken = "~"

const hexDigits = "0123456789ABCDEF"

func passes(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// IsPlain reports whether name is non-empty and made only of bytes that
// EncodeToken passes through unchanged: its own subject token.
func IsPlain(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !passes(name[i]) {
			return false
		}
	}
	return true
}

// EncodeToken turns a client-chosen name into exactly one NATS subject token.
// Bytes A-Z a-z 0-9 - _ pass through, every other byte becomes %XX, and the
// empty name becomes "~". Names longer than MaxNameLen are refused.
func EncodeToken(name string) (string, error) {
	if len(name) > MaxNameLen {
		return "", ErrNameTooLong
	}
	if name == "" {
		return emptyToken, nil
	}
	n := 0
	for i := 0; i < len(name); i++ {
		if !passes(name[i]) {
			n++
		}
	}
	if n == 0 {
		return name, nil
	}
	var b strings.Builder
	b.Grow(len(name) + 2*n)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if passes(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xF])
	}
	return b.String(), nil
}

// DecodeToken inverts EncodeToken. It accepts only tokens EncodeToken
// produces (uppercase hex, no escaped pass-through bytes), so every name has
// exactly one token.
func DecodeToken(tok string) (string, error) {
	if tok == emptyToken {
		return "", nil
	}
	if tok == "" {
		return "", ErrBadToken
	}
	if strings.IndexByte(tok, '%') < 0 {
		if !IsPlain(tok) {
			return "", ErrBadToken
		}
		if len(tok) > MaxNameLen {
			return "", ErrNameTooLong
		}
		return tok, nil
	}
	b := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if passes(c) {
			b = append(b, c)
			continue
		}
		if c != '%' || i+2 >= len(tok) {
			return "", ErrBadToken
		}
		hi, lo := unhex(tok[i+1]), unhex(tok[i+2])
		if hi < 0 || lo < 0 {
			return "", ErrBadToken
		}
		v := byte(hi<<4 | lo)
		if passes(v) {
			return "", ErrBadToken
		}
		b = append(b, v)
		i += 2
	}
	if len(b) > MaxNameLen {
		return "", ErrNameTooLong
	}
	return string(b), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// Subject prefixes. Everything sockbus publishes for clients starts with
// Prefix; its own traffic between nodes is under internalPrefix, outside
// sockbus.>, so operators watching client traffic neither see nor answer it.
const (
	Prefix     = "sockbus."
	LivePrefix = "sockbus.live."

	ioPrefix       = "sockbus.io."
	wsPrefix       = "sockbus.ws." // as long as ioPrefix (splitPublic)
	internalPrefix = "_SOCKBUS."
)

// Stored subjects (layout.go): a public subject's copy in its log is
//
//	sockbus.store.<part>.<suffix after "sockbus.">
//
// where <part> is a shared stream's number or ownPart for a declared name.
const (
	storePrefix = "sockbus.store."
	ownPart     = "own"
)

// sharedPart is the <part> of shared stream k.
func sharedPart(k int) string { return strconv.Itoa(k) }

// storedSubject is "sockbus.store.<part>.<tail>", tail being a public
// subject (or pattern) without "sockbus.".
func storedSubject(part, tail string) string { return storePrefix + part + "." + tail }

// publicTail is a name's public subject (or pattern) without "sockbus.".
func publicTail(kind Kind, tok string) string {
	if kind == KindNamespace {
		return "io." + tok + ".>"
	}
	return "ws." + tok
}

// splitPublic finds the kind and name token of a public stored subject.
func splitPublic(subject string) (Kind, string, bool) {
	var kind Kind
	switch {
	case strings.HasPrefix(subject, ioPrefix):
		kind = KindNamespace
	case strings.HasPrefix(subject, wsPrefix):
		kind = KindChannel
	default:
		return "", "", false
	}
	rest := subject[len(ioPrefix):] // as long as wsPrefix
	tok := rest
	if i := strings.IndexByte(rest, '.'); i >= 0 {
		tok = rest[:i]
	} else if kind == KindNamespace {
		return "", "", false
	}
	if tok == "" {
		return "", "", false
	}
	return kind, tok, true
}

// PublicSubject inverts StoreSubject: a stored subject read back from a
// stream becomes the public subject it was published as.
func PublicSubject(stored string) string {
	if !strings.HasPrefix(stored, storePrefix) {
		return stored
	}
	rest := stored[len(storePrefix):]
	i := strings.IndexByte(rest, '.')
	if i < 0 {
		return stored
	}
	return Prefix + rest[i+1:]
}

// ChannelSubject is where a plain WebSocket channel's messages are published
// (and stored). tok must come from EncodeToken.
func ChannelSubject(tok string) string { return wsPrefix + tok }

// Live returns the subject JetStream republishes a stored subject to.
func Live(subject string) string { return LivePrefix + strings.TrimPrefix(subject, Prefix) }

// Message headers sockbus sets and reads.
const (
	// HeaderFrom names the connection or socket that sent a message.
	HeaderFrom = "Sockbus-From"
	// HeaderBinary is "1" on a plain WebSocket message sent as a binary frame.
	HeaderBinary = "Sockbus-Binary"
	// HeaderSequence is the stream sequence JetStream adds when it republishes.
	HeaderSequence = "Nats-Sequence"
	// HeaderStream is the stream name JetStream adds when it republishes.
	HeaderStream = "Nats-Stream"
	// HeaderAdminEvent names the admin UI event an AdminFeedSubject
	// message carries.
	HeaderAdminEvent = "Sockbus-Admin-Event"

	// headerMsgID is JetStream's deduplication id of a stored publish.
	headerMsgID = "Nats-Msg-Id"
	// HeaderStatus and HeaderDescription are a NATS status reply's
	// (StatusNoResponders: nobody subscribes to a request's subject).
	HeaderStatus       = "Status"
	HeaderDescription  = "Description"
	StatusNoResponders = "503"
	// HeaderNumPending and HeaderSubject are on JetStream's direct-get
	// answers (package replay): how many messages are left after this one,
	// and the subject it was stored under.
	HeaderNumPending = "Nats-Num-Pending"
	HeaderSubject    = "Nats-Subject"
)

// The Socket.IO subject grammar. Every Socket.IO subject sockbus builds or
// reads is built or read here (docs/subjects.md documents it):
//
//	sockbus.io.<ns>.all.<event>            every socket of the namespace
//	sockbus.io.<ns>.room.<room>.<event>    the sockets in a room (a socket id is a room)
//	sockbus.io.<ns>.rooms.<event>          the union of the rooms in HeaderRooms
//	sockbus.io.<ns>.sock.<id>.<event>      one socket (read only: backends may publish it)
//	sockbus.io.<ns>.ctl.<op>               a socket operation (join, leave, disconnect, fetch)
//	sockbus.in.<ns>.<event>                a client's event, for NATS handlers
//	_SOCKBUS.presence.io.<ns>              interest only: one per node with sockets in <ns>
//	_SOCKBUS.presence.delta                presence: each node's batched changes and beats (and .sync, .snap, .hello)
//	_SOCKBUS.auth.connect                  the connect hook's requests (AuthHookSubject)
//
// <ns>, <room> and <event> are EncodeToken tokens; a socket id is plain.
// Stored copies carry a storage part (StoreSubject) and deliveries the
// "sockbus.live." prefix (Live); both keep the suffix after "sockbus.".

// IOKind is whom a Socket.IO subject addresses.
type IOKind uint8

// The kinds of Socket.IO subject.
const (
	IOAll IOKind = iota + 1
	IORoom
	IORooms
	IOSocket
	IOControl
)

var ioKindTokens = [...]string{IOAll: "all", IORoom: "room", IORooms: "rooms", IOSocket: "sock", IOControl: "ctl"}

// IOAddress is a Socket.IO subject's suffix after its namespace base,
// decoded: for IORoom the room name, for IOSocket the socket id, for
// IOControl the operation; Event is empty for IOControl.
type IOAddress struct {
	Kind   IOKind
	Target string
	Event  string
}

// IOBase is the public subject prefix of a namespace token: "sockbus.io.<ns>.".
func IOBase(nsTok string) string { return ioPrefix + nsTok + "." }

// IOSubject appends a's suffix to base (IOBase, or Live(IOBase)). Names are
// encoded here; a socket id or operation must be plain.
func IOSubject(base string, a IOAddress) (string, error) {
	if a.Kind < IOAll || a.Kind > IOControl {
		return "", ErrBadToken
	}
	kind := ioKindTokens[a.Kind]
	if a.Kind == IOControl {
		if !IsPlain(a.Target) {
			return "", ErrBadToken
		}
		return base + kind + "." + a.Target, nil
	}
	ev, err := EncodeToken(a.Event)
	if err != nil {
		return "", err
	}
	switch a.Kind { // one concatenation: this runs for every event a client emits
	case IORoom:
		tok, err := EncodeToken(a.Target)
		if err != nil {
			return "", err
		}
		return base + kind + "." + tok + "." + ev, nil
	case IOSocket:
		if !IsPlain(a.Target) {
			return "", ErrBadToken
		}
		return base + kind + "." + a.Target + "." + ev, nil
	}
	return base + kind + "." + ev, nil
}

// ParseIOAddress reads the suffix of a Socket.IO subject after its namespace
// base. It accepts exactly what IOSubject builds.
func ParseIOAddress(rest string) (IOAddress, error) {
	var a IOAddress
	kind, rest, _ := strings.Cut(rest, ".")
	for k, t := range ioKindTokens {
		if t != "" && t == kind {
			a.Kind = IOKind(k)
		}
	}
	var target string
	switch a.Kind {
	case IOAll, IORooms:
	case IORoom, IOSocket:
		var ok bool
		target, rest, ok = strings.Cut(rest, ".")
		if !ok {
			return a, ErrBadToken
		}
	case IOControl:
		if !IsPlain(rest) {
			return a, ErrBadToken
		}
		a.Target = rest
		return a, nil
	default:
		return a, ErrBadToken
	}
	switch a.Kind {
	case IORoom:
		name, err := DecodeToken(target)
		if err != nil {
			return a, err
		}
		a.Target = name
	case IOSocket:
		if !IsPlain(target) {
			return a, ErrBadToken
		}
		a.Target = target
	}
	ev, err := DecodeToken(rest)
	if err != nil {
		return a, err
	}
	a.Event = ev
	return a, nil
}

// InSubject is where a client's event is offered to NATS handlers:
// "sockbus.in.<ns>.<event>" (both tokens encoded).
func InSubject(nsTok, evTok string) string { return "sockbus.in." + nsTok + "." + evTok }

// PresenceSubject is subscribed by every node with sockets in a namespace
// and never published to: its interest count is how many nodes a broadcast
// with acks waits for. Outside sockbus.>, so watchers are not counted.
func PresenceSubject(nsTok string) string { return internalPrefix + "presence.io." + nsTok }

// Presence among nodes (package presence), all live only (core NATS):
//
//	_SOCKBUS.presence.delta          every node's batched membership changes, and its beats (a delta without changes)
//	_SOCKBUS.presence.sync.<node>    a request for <node>'s memberships (a snapshot), answered on the asker's
//	_SOCKBUS.presence.snap.<node>    the snapshots <node> asked for, in bounded chunks
//	_SOCKBUS.presence.hello          a starting (or reconnected) node's request for every node's snapshot
//	_SOCKBUS.presence.nodes          interest only: one per node running presence
const (
	PresenceDeltaSubject = internalPrefix + "presence.delta"
	PresenceHelloSubject = internalPrefix + "presence.hello"
	PresenceNodesSubject = internalPrefix + "presence.nodes"
)

// PresenceSyncSubject is where node (a token) answers snapshot requests.
func PresenceSyncSubject(nodeTok string) string { return internalPrefix + "presence.sync." + nodeTok }

// PresenceSnapSubject is where node (a token) receives the snapshots it asked for.
func PresenceSnapSubject(nodeTok string) string { return internalPrefix + "presence.snap." + nodeTok }

// AuthHookSubject is the connect hook's default request subject. Its
// requests carry clients' tokens, auth payloads and allow-listed headers
// (Cookie), so it is outside sockbus.>: watching sockbus traffic must not
// show them. Only the hook's responder should be allowed to subscribe.
const AuthHookSubject = internalPrefix + "auth.connect"

// The admin UI's subjects (package handlers), outside sockbus.> like the
// other node-to-node traffic: operators watching client traffic are neither
// counted nor asked, and no client can publish to them.
const (
	// AdminFeedSubject carries what every admin socket of the cluster
	// sees: one message per event, named in HeaderAdminEvent, its arguments
	// a JSON array. Interest in it means an admin socket is connected.
	AdminFeedSubject = internalPrefix + "admin.feed"
	// AdminSocketsSubject is a request every node with the admin UI on
	// answers with its local sockets.
	AdminSocketsSubject = internalPrefix + "admin.sockets"
	// AdminPresenceSubject counts the nodes with the admin UI on (Interest):
	// how many answers AdminSocketsSubject gets.
	AdminPresenceSubject = internalPrefix + "presence.admin"
)

// webhookPrefix starts the webhook stream's subjects (webhook.go):
// webhookPrefix + <partition>. Outside sockbus.>: the events carry users'
// ids and clients' arguments, which watching client traffic must not show;
// only sockbus nodes need to publish or read them.
const webhookPrefix = internalPrefix + "webhook."

// WebhookSubject is the stored subject of the webhook events of partition p.
func WebhookSubject(p int) string { return webhookPrefix + strconv.Itoa(p) }

// forwardPrefix is where each node listens for the Engine.IO requests the
// others forward to it (ListenTunnel): one subject per node.
const forwardPrefix = internalPrefix + "fwd."

// syncSubject is answered by every node of a cluster (see syncRoutes).
const syncSubject = internalPrefix + "sync"

// Inboxes: reply subjects, under NATS's conventional "_INBOX." prefix
// (what NATS clients' request tools subscribe to, and what an operator's
// permissions usually allow for replies).
const (
	inboxPrefix = "_INBOX."
	// replyPrefix is the node's reply multiplexer's (replies.go):
	// replyPrefix + <random tag> + "." + <id>[-<attempt>]. The tail
	// "<random tag>.<id>" is also the stored publish's message id
	// (headerMsgID) when the caller gives none.
	replyPrefix = inboxPrefix + "sockbus."
)

// NewInbox is a fresh unique subject for the answers to one request, for
// a caller that gathers several (SubscribeSync it before publishing).
func NewInbox() string { return inboxPrefix + randid.URL(15) }

// EncodeTokenList is a header value listing names as comma-separated tokens.
func EncodeTokenList(names []string) (string, error) {
	if len(names) == 1 { // a client's broadcast leaves out just its own socket
		t, err := EncodeToken(names[0])
		if err != nil {
			return "", fmt.Errorf("name %q: %w", names[0], err)
		}
		return t, nil
	}
	toks := make([]string, len(names))
	for i, n := range names {
		t, err := EncodeToken(n)
		if err != nil {
			return "", fmt.Errorf("name %q: %w", n, err)
		}
		toks[i] = t
	}
	return strings.Join(toks, ","), nil
}

// DecodeTokenList reads an EncodeTokenList header value, skipping tokens
// EncodeToken cannot have produced.
func DecodeTokenList(v string) []string {
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	out := parts[:0]
	for _, p := range parts {
		if name, err := DecodeToken(p); err == nil {
			out = append(out, name)
		}
	}
	return out
}

// Socket.IO message headers.
const (
	// HeaderExcept lists rooms (EncodeTokenList) whose sockets do not
	// receive the message; a socket id counts as a room.
	HeaderExcept = "Sockbus-Except"
	// HeaderRooms lists the target rooms of an IORooms subject or a
	// socket operation.
	HeaderRooms = "Sockbus-Rooms"
	// HeaderAttachments lists the sizes of the binary attachments appended,
	// in order, after the JSON arguments.
	HeaderAttachments = "Sockbus-Attachments"
	// HeaderSocket names the socket a client event or ack came from.
	HeaderSocket = "Sockbus-Socket"
	// HeaderUser is the authenticated user of the client that caused a message.
	HeaderUser = "Sockbus-User"
	// HeaderAckDeadline ends a broadcast with acks (Unix milliseconds).
	HeaderAckDeadline = "Sockbus-Ack-Deadline"
	// HeaderAckCount is a node's count of targeted sockets in a broadcast
	// with acks.
	HeaderAckCount = "Sockbus-Ack-Count"
)

// Presence of room and channel members (package presence): a request a
// node answers from its copy of every node's members, and the join and
// leave events.
const (
	presenceQueryPrefix = "sockbus.ctl.presence."
	presenceEventPrefix = "sockbus.presence."
)

// PresenceQuerySubject is the request for the presence list of a namespace
// (kind "io", tok its token; body: the room as JSON, null for the whole
// namespace) or a plain WebSocket channel (kind "ws").
func PresenceQuerySubject(kind, tok string) string { return presenceQueryPrefix + kind + "." + tok }

// PresenceEventSubject carries a namespace's or channel's join and leave
// events (what: "joined" or "left"); body {"room","id","user"}.
func PresenceEventSubject(kind, tok, what string) string {
	return presenceEventPrefix + kind + "." + tok + "." + what
}

// PresenceEvents matches every PresenceEventSubject.
const PresenceEvents = presenceEventPrefix + ">"

// PresenceQueries matches every PresenceQuerySubject.
const PresenceQueries = presenceQueryPrefix + ">"

// ParsePresenceSubject splits a presence event or query subject's rest
// (after its prefix) into kind, token and (events only) what.
func ParsePresenceSubject(subject string) (kind, tok, what string, ok bool) {
	rest, isEvent := strings.CutPrefix(subject, presenceEventPrefix)
	if !isEvent {
		if rest, ok = strings.CutPrefix(subject, presenceQueryPrefix); !ok {
			return "", "", "", false
		}
	}
	parts := strings.Split(rest, ".")
	if isEvent && len(parts) == 3 {
		return parts[0], parts[1], parts[2], true
	}
	if !isEvent && len(parts) == 2 {
		return parts[0], parts[1], "", true
	}
	return "", "", "", false
}
