// Command backend is a sockbus backend written against NATS only: it answers
// the "question" event of the main namespace (a client's emitWithAck gets the
// reply), logs every "chat" event, disconnects a client that emits "bye",
// and pushes a "tick" to every client of the main namespace every few
// seconds. Run several copies: the queue group
// shares the questions between them.
//
//	go run . --nats-addr 127.0.0.1:4222 --nats-user app --nats-password secret   # sockbus
//	go run ./examples/backend -nats nats://app:secret@127.0.0.1:4222
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

func main() {
	url := flag.String("nats", "nats://127.0.0.1:4222", "sockbus's NATS address, with credentials")
	every := flag.Duration("tick", 5*time.Second, "how often to push a tick to every client")
	flag.Parse()

	nc, err := nats.Connect(*url, nats.Name("sockbus-example-backend"))
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	defer nc.Drain()

	// "~" is the subject token of the main namespace "/"; events are tokens too.
	// The request's payload is the client's argument array; the reply is the ack's.
	if _, err := nc.QueueSubscribe("sockbus.in.~.question", "workers", func(m *nats.Msg) {
		var args []json.RawMessage
		_ = json.Unmarshal(m.Data, &args)
		log.Printf("question from socket %s: %s", m.Header.Get("Sockbus-Socket"), m.Data)
		_ = m.Respond([]byte(`["42",` + strconv.Itoa(len(args)) + `]`))
	}); err != nil {
		log.Fatalf("subscribe: %v", err)
	}
	if _, err := nc.Subscribe("sockbus.in.~.chat", func(m *nats.Msg) {
		log.Printf("chat from %s: %s", m.Header.Get("Sockbus-Socket"), m.Data)
	}); err != nil {
		log.Fatalf("subscribe: %v", err)
	}

	// Socket operations are messages too: join, leave and disconnect on
	// sockbus.io.<ns>.ctl.<op>, targets in Sockbus-Rooms (a socket id is a room).
	if _, err := nc.Subscribe("sockbus.in.~.bye", func(m *nats.Msg) {
		kick := nats.NewMsg("sockbus.io.~.ctl.disconnect")
		kick.Header.Set("Sockbus-Rooms", m.Header.Get("Sockbus-Socket"))
		kick.Data = []byte(`{"close":false}`)
		if err := nc.PublishMsg(kick); err != nil {
			log.Printf("disconnect: %v", err)
		}
	}); err != nil {
		log.Fatalf("subscribe: %v", err)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	t := time.NewTicker(*every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			// Stored in the namespace's stream, delivered to every socket, replayable.
			payload := `[` + strconv.Quote(now.Format(time.RFC3339)) + `]`
			if err := nc.Publish("sockbus.io.~.all.tick", []byte(payload)); err != nil {
				log.Printf("publish: %v", err)
			}
		}
	}
}
