// Package testutil holds test set-up shared by sockbus's packages: a bus on
// a temp dir and an HTTP handler served on 127.0.0.1:0, both torn down by
// t.Cleanup in the right order.
//
// Everything is in testutil.go.
package testutil
