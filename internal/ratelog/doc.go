// Package ratelog writes warnings at a bounded rate, so that a client
// repeating bad input (or many clients hitting one limit) cannot flood the
// log: each message is logged at most once per interval, and the next
// record that gets through says how many were suppressed in between.
//
// Start reading at New and Logger.Warn (ratelog.go, the only file).
package ratelog
