package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

var (
	// ErrSessionClosed is returned by Session.Send once the session is
	// closed or closing. It matches net.ErrClosed.
	ErrSessionClosed = fmt.Errorf("engine: session closed: %w", net.ErrClosed)
	// ErrSlowConsumer is returned by Session.Send when the frames would pass
	// the session's outbound bounds; the session is closed with
	// ReasonSlowConsumer. It matches outq.ErrFull.
	ErrSlowConsumer = fmt.Errorf("engine: slow consumer: %w", outq.ErrFull)
	// ErrInvalidFrame is returned by Session.Send for a nil frame or a text
	// frame whose payload does not start with the message type '4'.
	ErrInvalidFrame = errors.New("engine: invalid frame: want binary or text starting with '4'")
)

// Close reasons passed to the OnClose callback. The first six are engine.io's
// own; ReasonSlowConsumer is sockbus's. Any other string is a reason given
// to Session.Close.
//
//	reason                 cause                                             client reconnects
//	transport close        client closed (close packet, WebSocket close)      yes, unless it closed on purpose
//	transport error        I/O error, aborted or overlapping poll, bad POST   yes
//	ping timeout           no pong within PingTimeout                         yes
//	parse error            undecodable packet from the client                 yes
//	forced close           Session.Close by the application (conventional)    yes, unless told otherwise above
//	server shutting down   Server.Close                                       yes
//	slow consumer          outbound bounds passed                             yes
const (
	ReasonTransportClose = "transport close"
	ReasonTransportError = "transport error"
	ReasonPingTimeout    = "ping timeout"
	ReasonParseError     = "parse error"
	ReasonForcedClose    = "forced close"
	ReasonServerShutdown = "server shutting down"
	ReasonSlowConsumer   = "slow consumer"
)

// errorCode is an Engine.IO HTTP error code.
type errorCode int

const (
	codeUnknownTransport errorCode = iota
	codeUnknownSID
	codeBadHandshakeMethod
	codeBadRequest
	codeForbidden
	codeUnsupportedProtocolVersion
)

var errorMessages = [...]string{
	codeUnknownTransport:           "Transport unknown",
	codeUnknownSID:                 "Session ID unknown",
	codeBadHandshakeMethod:         "Bad handshake method",
	codeBadRequest:                 "Bad request",
	codeForbidden:                  "Forbidden",
	codeUnsupportedProtocolVersion: "Unsupported protocol version",
}

// writeError answers with engine.io's JSON error body: 403 for Forbidden,
// 400 otherwise, unless status is given. An empty message takes the code's.
func writeError(w http.ResponseWriter, code errorCode, message string, status int) {
	if message == "" {
		message = errorMessages[code]
	}
	if status == 0 {
		status = http.StatusBadRequest
		if code == codeForbidden {
			status = http.StatusForbidden
		}
	}
	body, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{int(code), message})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
