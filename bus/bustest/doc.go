// Package bustest holds test helpers that need to reach inside a bus.Bus,
// for the tests of packages that use bus: [LoseConn] breaks a node's own
// NATS connection for good, [StartSlow] starts a bus whose subscriptions
// are slow, as in a cluster with slow routes. Tests that act on the bus as
// a backend would connect to it themselves (internal/natstest.Connect to
// Bus.ClientURL): no NATS connection of the node leaves package bus.
//
// Everything is in bustest.go.
package bustest
