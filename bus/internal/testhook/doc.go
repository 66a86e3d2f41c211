// Package testhook is how package bus/bustest reaches inside a bus.Bus
// without a test hook in bus's exported API: package bus fills these
// variables in when it initialises (bus/testhooks.go), and only packages under
// bus/ can import this one.
//
// Everything is in testhook.go.
package testhook
