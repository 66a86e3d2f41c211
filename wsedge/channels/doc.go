// Package channels serves sockbus's plain WebSocket channels (/ws and
// /ws/{channel}): every frame a client sends is published on the channel's
// subject and every message on that subject goes to every connection of the
// channel. One bus subscription per channel per node feeds a local fan-out;
// each broadcast is framed once and queued by pointer on each connection's
// bounded queue.
//
// Start reading at server.go ([New], [Server], [Config]), then serve.go
// ([Server.ServeHTTP], one connection's admission step by step). hub.go is
// a channel's subscription and its local members (join, leave, deliver);
// conn.go is one connection (its gws callbacks, limits and close);
// history.go replays ?history=N; refresh.go answers token refreshes;
// observe.go tells Observers (the webhooks) of connections and messages. The
// close codes and reasons are wsedge's (close.go).
package channels
