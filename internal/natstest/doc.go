// Package natstest holds NATS test helpers: [Start] runs a standalone
// nats-server with JetStream for tests of sockbus against an external NATS
// (bus.ExternalConfig, --nats-url), a real server in this process on a
// loopback port the OS picks, with password authentication; [Connect] and
// [SubscribeSync] act on a bus as a backend would, over a NATS connection
// of their own to Bus.ClientURL (the node's own connection never leaves
// package bus).
//
// Start is in natstest.go, Connect and SubscribeSync in backend.go.
package natstest
