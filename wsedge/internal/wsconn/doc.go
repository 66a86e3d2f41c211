// Package wsconn upgrades HTTP requests to gws connections whose Close
// lingers: it half-closes, drains what the client still sends, then closes.
//
// Closing a socket that still has unread input makes the kernel send a TCP
// reset, and a client that gets the reset before it read our close frame
// reports 1006 instead of the code we sent (1009 for an oversized frame,
// whose unread payload is exactly such input). Draining first lets the
// close frame and its code arrive.
package wsconn
