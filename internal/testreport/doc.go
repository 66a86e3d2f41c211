// Command testreport turns `go test -json` (stdin) into what plain
// `go test` prints, plus a line for every skipped test with its reason and
// a summary that lists every skip (subtests included) with their count,
// so `make test` cannot say "ok" over a suite that did not run. It exits 1
// when a test, a package or a build failed, or when no test ran at all.
//
//	go test -json ./... | go run ./internal/testreport
//
// Everything is in main.go.
package main
