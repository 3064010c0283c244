// Package tlsconf turns the agent's TLS settings into crypto/tls
// configurations and generates the certificates of a local CA. A
// Configurator holds the loaded certificates and CA pools of two
// protocols, the HTTPS API and the internal RPC port (RPC and Raft), and
// swaps them atomically on Update, so a SIGHUP reload reaches every new
// connection while the ones open keep theirs. It also decides whether a
// peer is a server of a datacenter: with verify_server_hostname, only a
// certificate of the CA that names server.<dc>.<domain>.
//
// tlsconf uses only the standard library; it must not import any other
// Meridian package.
package tlsconf
