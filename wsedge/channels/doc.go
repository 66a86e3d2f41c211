// Package channels serves sockbus's plain WebSocket channels (/ws and
// /ws/{channel}): every frame a client sends is published on the channel's
// subject and every message on that subject goes to every connection of the
// channel. One bus subscription per channel per node feeds a local fan-out;
// each broadcast is framed once and queued by pointer on each connection's
// bounded queue.
//
// Start reading at channels.go ([NewChannels], [Channels.ServeHTTP]).
package channels
