// Package memnet is an in-memory network of stream connections for tests:
// listeners and dialers built on net.Pipe, addressed by strings, with
// Connect, Disconnect, DisconnectAll and Partition to cut links. It is the
// twin of TCP that rpc's Mux (through a Listener) and Pool (through
// Dialer) run on inside testing/synctest bubbles, where real sockets
// would keep fake time from advancing. A dial to a closed, missing or cut
// peer fails at once, and cutting a link closes the connections on it: a
// caller never blocks on a dead peer. It imports only the standard library.
package memnet
