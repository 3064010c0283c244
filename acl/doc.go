// Package acl is Meridian's ACL rule language and authorizer, compatible
// with Consul's: Parse reads a policy's rules (HCL or JSON, the same
// grammar: key_prefix "app/" { policy = "write" }, operator = "read", ...)
// and NewAuthorizer merges policies into an Authorizer that answers "may
// this token read, list or write this resource" with Consul's semantics: an
// exact rule beats a prefix rule, the longest prefix wins, an explicit deny
// stops the search, and what no rule covers gets the default policy.
//
// The package is pure: no clocks, no I/O, no goroutines. It imports no
// Meridian package.
package acl
