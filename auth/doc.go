// Package auth decides who may connect to sockbus without the operator
// writing Go: JSON Web Tokens verified against a configured key, a connect
// hook answered over NATS by any program, and allow-lists of the
// namespaces and channels that exist.
//
// Start reading at Authenticator (auth.go): it implements the edges'
// contract, wsedge.Authorizer, directly (one set of request, grant and
// refusal types, declared in wsedge), and applies a Config built from a
// Verifier (jwt.go), a Hook (hook.go) and name Patterns (match.go).
// Mint (mint.go) signs the tokens `sockbus token` prints.
package auth
