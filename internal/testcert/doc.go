// Package testcert issues throwaway certificates for tests: a CA and
// certificates it signs for 127.0.0.1, written as PEM files in the test's
// temporary directory. It imports only the standard library, so any
// package's tests may use it.
//
// Everything is in testcert.go.
package testcert
