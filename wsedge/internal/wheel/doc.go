// Package wheel runs many connections' coarse timers (heartbeats, connect
// timeouts) on one goroutine per node: a hashed timing wheel.
//
// A time.Timer per connection costs an allocation of ~130 bytes for the
// connection's life and the runtime's timer-heap work on every start and
// reset; a wheel entry is a field of the connection plus 16 bytes in a slot
// while it is armed. The price is resolution: a Timer fires up to one tick
// late (never early), which is what a heartbeat of seconds can afford.
//
// Start reading at Wheel and Timer (wheel.go).
package wheel
