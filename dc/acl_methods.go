package dc

// rpcCheck is where an RPC method's permission is checked.
type rpcCheck int

const (
	// checkedHere: the server that answers checks the request's token.
	checkedHere rpcCheck = iota + 1
	// checkedByAgent: the agent that took the HTTP request (or DNS
	// question) checked it through its route table before calling; the
	// server trusts agents of its datacenter for these.
	checkedByAgent
	// noPermission: cluster plumbing or public information.
	noPermission
)

// rpcMethodAuth classifies every RPC method: registerEndpoints refuses
// to start a server with a method missing here (a test also checks).
var rpcMethodAuth = map[string]struct {
	check rpcCheck
	needs string
}{
	MethodKVGet:   {checkedHere, "key:read (recursive and keys-only reads filtered)"},
	MethodKVApply: {checkedHere, "key:write (delete-tree: write on every key under the prefix)"},
	MethodTxn:     {checkedHere, "per operation: key:read or key:write"},

	MethodStatusLeader:       {noPermission, "cluster status"},
	MethodStatusPeers:        {noPermission, "cluster status"},
	MethodStatusRaftIndex:    {noPermission, "server plumbing"},
	MethodReadIndex:          {noPermission, "server plumbing (follower reads)"},
	MethodRaftConfiguration:  {checkedByAgent, "operator:read"},
	MethodRaftRemovePeer:     {checkedByAgent, "operator:write"},
	MethodRaftTransferLeader: {checkedByAgent, "operator:write"},
	MethodAutopilotGetConfig: {checkedByAgent, "operator:read"},
	MethodAutopilotSetConfig: {checkedByAgent, "operator:write"},
	MethodAutopilotState:     {checkedByAgent, "operator:read"},

	MethodCatalogRegister:     {checkedByAgent, "node:write, service:write"},
	MethodCatalogDeregister:   {checkedByAgent, "node:write"},
	MethodCatalogNodes:        {checkedByAgent, "node:read, filtered"},
	MethodCatalogServices:     {checkedByAgent, "service:read, filtered"},
	MethodCatalogServiceNodes: {checkedByAgent, "service:read, node:read, filtered"},
	MethodCatalogNodeServices: {checkedByAgent, "node:read"},
	MethodCatalogDatacenters:  {noPermission, "datacenter names"},
	MethodHealthChecks:        {checkedByAgent, "node:read or service:read, filtered"},
	MethodCatalogDump:         {checkedByAgent, "node:read, service:read, filtered"},

	MethodSessionCreate:  {checkedByAgent, "session:write on the node"},
	MethodSessionDestroy: {checkedByAgent, "session:write on the node"},
	MethodSessionRenew:   {checkedByAgent, "session:write on the node"},
	MethodSessionGet:     {checkedByAgent, "session:read, filtered"},

	MethodCoordinateUpdate:      {checkedByAgent, "node:write"},
	MethodCoordinateNodes:       {checkedByAgent, "node:read, filtered"},
	MethodCoordinateDatacenters: {noPermission, "server coordinates"},
	MethodEventFire:             {checkedByAgent, "event:write"},

	MethodACLBootstrap:    {checkedHere, "none, once"},
	MethodACLResolve:      {noPermission, "the secret itself (agents resolve tokens)"},
	MethodACLTokenSet:     {checkedHere, "acl:write"},
	MethodACLTokenGet:     {checkedHere, "acl:read"},
	MethodACLTokenSelf:    {checkedHere, "the secret itself"},
	MethodACLTokenList:    {checkedHere, "acl:read"},
	MethodACLTokenDelete:  {checkedHere, "acl:write"},
	MethodACLPolicySet:    {checkedHere, "acl:write"},
	MethodACLPolicyGet:    {checkedHere, "acl:read"},
	MethodACLPolicyList:   {checkedHere, "acl:read"},
	MethodACLPolicyDelete: {checkedHere, "acl:write"},
	MethodACLRoleSet:      {checkedHere, "acl:write"},
	MethodACLRoleGet:      {checkedHere, "acl:read"},
	MethodACLRoleList:     {checkedHere, "acl:read"},
	MethodACLRoleDelete:   {checkedHere, "acl:write"},

	// KV.Changes is asked by the leader of a replicating datacenter, not
	// by an agent; it carries no token yet (a replication token with
	// key:read on the prefixes is still to come), so it is only as closed
	// as the server RPC port (TLS with verify_incoming will guard it).
	MethodKVChanges:           {noPermission, "server to server KV replication (see above)"},
	MethodKVReplicationStatus: {checkedByAgent, "operator:read"},

	MethodPreparedQueryApply:         {checkedByAgent, "query:write"},
	MethodPreparedQueryGet:           {checkedByAgent, "query:read, filtered"},
	MethodPreparedQueryExecute:       {checkedByAgent, "query:read"},
	MethodPreparedQueryExecuteRemote: {checkedByAgent, "query:read (in the datacenter that asked)"},
}
