// Package auth decides who may connect to sockbus without the operator
// writing Go: JSON Web Tokens verified against a configured key, a connect
// hook answered over NATS by any program, and allow-lists of the
// namespaces and channels that exist. main adapts its Authenticator to
// wsedge.Authorizer; this package knows nothing of wsedge.
package auth
