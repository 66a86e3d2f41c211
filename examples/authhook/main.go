// Command authhook answers sockbus's connect hook over NATS: every
// Socket.IO namespace connect and plain WebSocket connect is a request on
// _SOCKBUS.auth.connect, and this program's reply admits or refuses it.
// The rule here is a demo: a client presenting one of the API keys below
// (auth.token, ?token= or Authorization: Bearer) is admitted as that key's
// user, joins the room "team-<user>" and gets its plan as socket data; the
// namespace "/staff" is for "ada" only; everyone else is refused with a
// message and data the client sees in connect_error. Run several copies:
// the queue group shares the requests.
//
//	go run . --auth-hook --nats-addr 127.0.0.1:4222 --nats-user app --nats-password secret   # sockbus
//	go run ./examples/authhook -nats nats://app:secret@127.0.0.1:4222
//	# then in a browser: io('http://localhost:3000/chat', { auth: { token: 'key-ada' } })
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/nats-io/nats.go"
)

// request is the part of the hook's request this rule reads (docs/security.md,
// "Connect hook", lists every field).
type request struct {
	Kind          string              `json:"kind"` // "namespace" or "channel"
	Name          string              `json:"name"` // "/chat", or a channel
	Token         string              `json:"token"`
	Headers       map[string][]string `json:"headers"`
	RemoteAddress string              `json:"remote_address"`
}

type reply struct {
	Allow   bool     `json:"allow"`
	User    string   `json:"user,omitempty"`
	Rooms   []string `json:"rooms,omitempty"`
	Data    any      `json:"data,omitempty"`
	Expires int64    `json:"expires,omitempty"`
	Message string   `json:"message,omitempty"`
}

var keys = map[string]struct{ user, plan string }{
	"key-ada":   {"ada", "pro"},
	"key-grace": {"grace", "free"},
}

func decide(r request) reply {
	k, ok := keys[r.Token]
	switch {
	case !ok:
		return reply{Message: "unknown API key", Data: map[string]any{"login": "https://example.com/login"}}
	case r.Kind == "namespace" && r.Name == "/staff" && k.user != "ada":
		return reply{Message: "staff only", Data: map[string]any{"user": k.user}}
	}
	return reply{
		Allow: true, User: k.user, Rooms: []string{"team-" + k.user},
		Data:    map[string]any{"plan": k.plan},
		Expires: time.Now().Add(8 * time.Hour).Unix(), // the connection ends then
	}
}

func main() {
	url := flag.String("nats", "nats://127.0.0.1:4222", "sockbus's NATS address, with credentials")
	subject := flag.String("subject", "_SOCKBUS.auth.connect", "sockbus's --auth-hook-subject")
	flag.Parse()

	nc, err := nats.Connect(*url, nats.Name("sockbus-example-authhook"))
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	defer nc.Drain()
	if _, err := nc.QueueSubscribe(*subject, "authhook", func(m *nats.Msg) {
		var r request
		if err := json.Unmarshal(m.Data, &r); err != nil {
			log.Printf("bad request: %v", err)
			return // no reply: sockbus refuses at its timeout
		}
		rep := decide(r)
		log.Printf("%s %q from %s: allow=%v user=%q %s", r.Kind, r.Name, r.RemoteAddress, rep.Allow, rep.User, rep.Message)
		body, _ := json.Marshal(rep)
		_ = m.Respond(body)
	}); err != nil {
		log.Fatalf("subscribe: %v", err)
	}
	log.Printf("answering %s", *subject)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
}
