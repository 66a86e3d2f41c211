// Package idlemem is the harness of the idle-memory tests: the test binary
// runs itself again as the measuring process (with GODEBUG
// adaptivestackstart=0, so a goroutine's stack shows only what it grew to)
// and as a client process that holds the connections outside the process
// whose memory is read. It is imported by tests only.
package idlemem
