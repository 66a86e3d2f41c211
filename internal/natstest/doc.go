// Package natstest starts a standalone nats-server with JetStream for
// tests of sockbus against an external NATS (bus.ExternalConfig, --nats-url):
// a real server in this process, on a loopback port the OS picks, with
// password authentication.
package natstest
