package dc

// serverOnlyMethods are the RPC methods only servers call, with who calls
// them. With TLS and verify_server_hostname, the agent's RPC server
// answers them only to a peer whose certificate names
// server.<dc>.<domain> (ServerOnlyMethod), so a client agent's
// certificate from the same CA cannot reach them. A call relayed from
// another datacenter is server-to-server too, whatever its method.
var serverOnlyMethods = map[string]string{
	MethodStatusRaftIndex:            "a server bootstrapping asks the others for their Raft index",
	MethodReadIndex:                  "a follower asks the leader for a read index (follower reads)",
	MethodKVChanges:                  "the leader of a replicating datacenter reads the source's KV changes",
	MethodPreparedQueryExecuteRemote: "a server fails a prepared query over to another datacenter",
}

// ServerOnlyMethod reports whether only servers may call method.
func ServerOnlyMethod(method string) bool {
	_, ok := serverOnlyMethods[method]
	return ok
}
