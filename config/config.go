package config

import (
	"time"
)

// Config is every setting of a sockbus process. Each field is one flag
// (--key), one environment variable (SOCKBUS_KEY with "-" as "_") and one
// key of the config file, all named by the `key` tag. `help` is the flag's
// usage and the default file's comment; `min`/`max` bound numbers and
// durations; `oneof` lists the allowed words; `check:"addr"` wants host:port
// (empty allowed unless `required`); `secret` hides the value when printed.
//
// The zero value is not a working configuration: Default gives the
// documented defaults.
type Config struct {
	Addr            string        `key:"addr" check:"addr" required:"true" help:"HTTP listen address for WebSocket, Socket.IO and /healthz"`
	DataDir         string        `key:"data-dir" required:"true" help:"directory for JetStream storage; one sockbus process per directory"`
	NATSAddr        string        `key:"nats-addr" check:"addr" help:"also accept NATS clients here, e.g. 127.0.0.1:4222 (empty: in-process only)"`
	NATSUser        string        `key:"nats-user" help:"NATS user (required with a non-loopback nats-addr)"`
	NATSPassword    string        `key:"nats-password" secret:"true" help:"NATS password (required with a non-loopback nats-addr)"`
	MaxMessageBytes int           `key:"max-message-bytes" min:"1" max:"67108864" help:"largest message a client may send, in bytes"`
	LogLevel        string        `key:"log-level" oneof:"debug info warn error" help:"least important log lines written"`
	LogFormat       string        `key:"log-format" oneof:"text json" help:"log line format on stderr"`
	SocketIOPath    string        `key:"socketio-path" check:"path" help:"where Socket.IO (Engine.IO) is served"`
	CORSOrigins     string        `key:"cors-origins" help:"comma-separated origins allowed to reach Socket.IO cross-origin, or * (empty: none)"`
	ClientDir       string        `key:"client-dir" help:"directory of the socket.io-client bundle served at <socketio-path>socket.io.js"`
	HistoryMaxAge   time.Duration `key:"history-max-age" min:"0s" help:"drop stored events older than this (0: no limit)"`
	HistoryMaxMsgs  int64         `key:"history-max-msgs" min:"0" help:"keep at most this many events per namespace or channel (0: no limit)"`
	HistoryMaxBytes int64         `key:"history-max-bytes" min:"0" help:"keep at most this many bytes per namespace or channel (0: no limit)"`
	RecoveryWindow  time.Duration `key:"recovery-window" min:"0s" help:"how long a dropped Socket.IO session stays recoverable (0: recovery off)"`
	PprofAddr       string        `key:"pprof-addr" check:"addr" help:"serve Go profiling (net/http/pprof) on this separate address, e.g. 127.0.0.1:6060 (empty: off)"`
	ClusterName     string        `key:"cluster-name" help:"join a NATS cluster of sockbus nodes with this name (empty: single node)"`
	ClusterAddr     string        `key:"cluster-addr" check:"addr" help:"route listen address for the cluster, e.g. 127.0.0.1:6222"`
	Routes          string        `key:"routes" help:"comma-separated route URLs of the other nodes, e.g. nats-route://10.0.0.2:6222"`
	NodeName        string        `key:"node-name" help:"this node's name in the cluster: unique and stable across restarts"`
	Replicas        int64         `key:"replicas" min:"1" max:"5" help:"copies of each stream and of the session bucket in a cluster (1, or 3)"`
	ShutdownTimeout time.Duration `key:"shutdown-timeout" min:"1ms" max:"1h" help:"how long a shutdown waits for clients and the bus before giving up"`
}

// Default is the configuration with every documented default.
func Default() Config {
	return Config{
		Addr:            ":3000",
		DataDir:         "./data",
		MaxMessageBytes: 1 << 20,
		LogLevel:        "info",
		LogFormat:       "text",
		SocketIOPath:    "/socket.io/",
		ClientDir:       "node_modules/socket.io-client/dist",
		HistoryMaxAge:   24 * time.Hour,
		RecoveryWindow:  2 * time.Minute,
		Replicas:        1,
		ShutdownTimeout: 10 * time.Second,
	}
}
