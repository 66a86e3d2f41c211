package app

import (
	"strings"

	"github.com/sockbus/sockbus/bus"
)

// startLine is the attributes of the "sockbus started" log line: where
// each product is served, where NATS is, how clients and NATS clients
// authenticate, the cluster, the version. It quotes no secret.
func startLine(cfg config, front frontDoor, socketIOPath string, b *bus.Bus) []any {
	natsWhere := "in-process only"
	if u := b.ClientURL(); u != "" {
		natsWhere = u
	}
	cluster := "off"
	if cfg.ClusterName != "" {
		cluster = cfg.ClusterName + " as " + cfg.NodeName + " on " + cfg.ClusterAddr
	}
	natsAuth := "none (in-process)"
	if cfg.NATSUser != "" {
		natsAuth = "user " + cfg.NATSUser
	}
	var authModes []string
	if cfg.AuthJWTKey != "" {
		authModes = append(authModes, "jwt")
	}
	if cfg.AuthHook {
		authModes = append(authModes, "hook")
	}
	if authModes == nil {
		authModes = []string{"open"}
	}
	api := "off"
	switch {
	case len(cfg.APIKey) > 0 && cfg.APIAddr != "":
		api = cfg.APIAddr + "/api/v1/"
	case len(cfg.APIKey) > 0:
		api = "/api/v1/"
	}
	return []any{
		"http", front.scheme + "://" + front.ln.Addr().String(),
		"socketio", socketIOPath,
		"websocket", "/ws/{channel}",
		"api", api,
		"data_dir", b.DataDir(),
		"nats", natsWhere,
		"auth", strings.Join(authModes, "+"),
		"nats_auth", natsAuth,
		"cluster", cluster,
		"version", buildVersion().Version,
	}
}
