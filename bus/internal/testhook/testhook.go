package testhook

var (
	// CloseConn closes the node's own NATS connection of a *bus.Bus for
	// good, as nats.go does once it gives up on it.
	CloseConn func(b any)
	// SyncSubject is the subject every node of a cluster answers after
	// each of its subscriptions (bus's syncSubject).
	SyncSubject string
)
