package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/internal/randid"
)

// ExternalConfig connects a node to an existing NATS server or cluster with
// JetStream enabled, as a plain client: the node keeps no data of its own
// (a stateless edge). Every option is one nats.go offers; set at most one
// way to authenticate besides TLS client certificates.
type ExternalConfig struct {
	// URL is one or more comma-separated server URLs, e.g.
	// nats://n1:4222,nats://n2:4222 (tls:// to require TLS).
	URL string
	// CredsFile is a credentials file (user JWT and nkey seed), as nsc writes it.
	CredsFile string
	// NKeySeedFile is a file holding a user nkey seed (SU…).
	NKeySeedFile string
	// User and Password authenticate with a user and password.
	User, Password string
	// TLSCA is a PEM file of the CAs that sign the servers' certificates
	// (default: the system's roots).
	TLSCA string
	// TLSCert and TLSKey are a PEM client certificate and its key, for
	// servers that verify clients.
	TLSCert, TLSKey string
	// PresenceWait is how long Interest waits for one more node's answer
	// after the last one (or the request). Default DefaultPresenceWait.
	PresenceWait time.Duration
}

// DefaultPresenceWait is ExternalConfig.PresenceWait's default: well above
// the spread of answers from nodes on one network, short next to the
// seconds a broadcast with acknowledgements waits for its clients.
const DefaultPresenceWait = 50 * time.Millisecond

// maxPresenceWait bounds one presence count as a whole (or four times
// PresenceWait, when that is longer).
const maxPresenceWait = time.Second

// options turns the configuration into nats.go connect options.
func (e ExternalConfig) options() ([]nats.Option, error) {
	var opts []nats.Option
	auth := 0
	if e.CredsFile != "" {
		auth++
		opts = append(opts, nats.UserCredentials(e.CredsFile))
	}
	if e.NKeySeedFile != "" {
		auth++
		o, err := nats.NkeyOptionFromSeed(e.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("failed to read --nats-nkey %s: %w", e.NKeySeedFile, err)
		}
		opts = append(opts, o)
	}
	if e.User != "" || e.Password != "" {
		auth++
		if e.User == "" || e.Password == "" {
			return nil, errors.New("bus: set both --nats-user and --nats-password, or neither")
		}
		opts = append(opts, nats.UserInfo(e.User, e.Password))
	}
	if auth > 1 {
		return nil, errors.New("bus: use one of --nats-creds, --nats-nkey or --nats-user/--nats-password")
	}
	if e.TLSCA != "" {
		opts = append(opts, nats.RootCAs(e.TLSCA))
	}
	if (e.TLSCert == "") != (e.TLSKey == "") {
		return nil, errors.New("bus: set both --nats-tls-cert and --nats-tls-key, or neither")
	}
	if e.TLSCert != "" {
		opts = append(opts, nats.ClientCert(e.TLSCert, e.TLSKey))
	}
	return opts, nil
}

// startExternal connects to the external NATS and opens JetStream and the
// layout there. Nothing is written locally; the embedded server's subject
// mappings cannot be installed from a client, so the log names the block an
// operator adds to the server's configuration (MappingsConfig).
func startExternal(ctx context.Context, cfg Config) (*Bus, error) {
	if cfg.NATSAddr != "" || cfg.Cluster.Name != "" {
		return nil, errors.New("bus: --nats-url connects to an external NATS: --nats-addr and --cluster-* configure the embedded one; drop them")
	}
	auth, err := cfg.External.options()
	if err != nil {
		return nil, err
	}
	if cfg.External.PresenceWait <= 0 {
		cfg.External.PresenceWait = DefaultPresenceWait
	}
	b := &Bus{cfg: cfg, log: cfg.Logger, nodeID: "edge-" + randid.Hex(12)}
	b.dial = func(name string) (*nats.Conn, error) {
		opts := append(b.connOptions(name), auth...)
		opts = append(opts, nats.Timeout(cfg.ReadyTimeout), b.dialer(name, cfg.ReadyTimeout))
		return nats.Connect(cfg.External.URL, opts...)
	}
	nc, err := b.dial(nodeConnName)
	if err != nil {
		return nil, fmt.Errorf("failed to connect to NATS at %s: %w", redactURLs(cfg.External.URL), err)
	}
	if !nc.HeadersSupported() {
		nc.Close()
		return nil, errors.New("bus: the NATS server does not support headers (nats-server 2.2 or later is needed)")
	}
	if mp := nc.MaxPayload(); mp < int64(cfg.MaxPayload) {
		b.log.Warn("the NATS server's max_payload is below --max-message-bytes: larger messages will be refused",
			"max_payload", mp, "max_message_bytes", cfg.MaxPayload)
	}
	if err := b.open(ctx, nc); err != nil {
		return nil, err
	}
	if m, err := b.mappings(); err == nil {
		shared := m[len(m)-2:]
		b.log.Info("external NATS: for backends to publish on public subjects, the account needs these subject mappings (docs/clusters.md, Edges on an existing NATS)",
			"url", nc.ConnectedUrlRedacted(), "io", shared[0][0]+" -> "+shared[0][1], "ws", shared[1][0]+" -> "+shared[1][1])
	}
	return b, nil
}

// redactURLs hides passwords in a comma-separated URL list for errors.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if at := strings.LastIndexByte(p, '@'); at >= 0 {
			if s := strings.Index(p, "://"); s >= 0 && s < at {
				parts[i] = p[:s+3] + "xxxxx" + p[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}

// External reports whether the node is connected to an external NATS
// (Config.External) rather than running the embedded server.
func (b *Bus) External() bool { return b.ns == nil }

// MappingsConfig is the nats-server configuration block that makes a
// backend's publish on a public subject land where sockbus stores it, as
// the embedded server's own mappings do: the operator of an external NATS
// adds it to the account sockbus uses (top level for the default account).
// nats-server reads a mappings block in no fixed order, so with declared
// names (own streams) the block cannot say that their mapping comes before
// the shared one: backends then publish a declared name's stored subject
// (sockbus.store.own.…) themselves, which the block's comment says.
func MappingsConfig(l LayoutConfig) (string, error) {
	b := &Bus{cfg: Config{Layout: l}.withDefaults()}
	m, err := b.mappings()
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.WriteString("# sockbus: publishes on public subjects go to the stored ones\n")
	own := len(m) - 2
	if own > 0 {
		sb.WriteString("# declared names are left out (mappings have no order in a config file):\n")
		sb.WriteString("# publish sockbus.store.own.io.<ns>.… / sockbus.store.own.ws.<channel> for them\n")
	}
	sb.WriteString("mappings = {\n")
	for _, kv := range m[own:] {
		fmt.Fprintf(&sb, "  %q: %q\n", kv[0], kv[1])
	}
	sb.WriteString("}\n")
	return sb.String(), nil
}

// SubscribePresence marks this node present on subject (a PresenceSubject)
// for as long as the subscription lasts: Interest counts it, and on an
// external NATS it answers the other nodes' presence requests.
func (b *Bus) SubscribePresence(subject string) (*Subscription, error) {
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) {
		if m.Reply != "" {
			_ = m.Respond(nil)
		}
	})
	if err == nil {
		_ = sub.SetPendingLimits(64, 64<<10) // requests carry no body
	}
	return b.registered(subject, sub, err)
}

// pingPresence counts the nodes present on subject when the server's
// interest cannot be seen (an external NATS: $SYS and monitoring are not a
// normal user's): a request every present node answers. No node present is
// known at once (the server answers "no responders"); otherwise answers are
// counted until PresenceWait passes without one, at most maxPresenceWait
// (or 4 PresenceWait) in all. A node slower than that is not counted: its
// clients still get the broadcast, the sender only does not wait for
// their acks.
func (b *Bus) pingPresence(subject string) int {
	inbox := NewInbox()
	ch := make(chan *nats.Msg, 64)
	sub, err := b.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return 0
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := b.nc.PublishRequest(subject, inbox, nil); err != nil {
		return 0
	}
	end := time.NewTimer(max(maxPresenceWait, 4*b.cfg.External.PresenceWait))
	defer end.Stop()
	quiet := time.NewTimer(maxPresenceWait) // the first answer may take a round trip through the cluster
	defer quiet.Stop()
	n := 0
	for {
		select {
		case m := <-ch:
			if len(m.Data) == 0 && m.Header.Get(HeaderStatus) == StatusNoResponders {
				return n // no responders: nobody is present
			}
			n++
			quiet.Reset(b.cfg.External.PresenceWait)
		case <-quiet.C:
			return n
		case <-end.C:
			return n
		}
	}
}
