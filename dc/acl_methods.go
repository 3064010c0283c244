package dc

// rpcCheck is where an RPC method's permission is checked.
type rpcCheck int

const (
	// checkedHere: the server that answers checks the request's token
	// (lists: leaves out what it may not read), whoever called: an
	// agent's route check in front of it is not relied upon.
	checkedHere rpcCheck = iota + 1
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

	MethodStatusLeader:         {noPermission, "cluster status"},
	MethodACLReplicationStatus: {noPermission, "replication status, public in Consul"},
	MethodStatusPeers:          {noPermission, "cluster status"},
	MethodStatusRaftIndex:      {noPermission, "server plumbing"},
	MethodReadIndex:            {noPermission, "server plumbing (follower reads)"},
	MethodRaftConfiguration:    {checkedHere, "operator:read"},
	MethodRaftRemovePeer:       {checkedHere, "operator:write"},
	MethodRaftTransferLeader:   {checkedHere, "operator:write"},
	MethodAutopilotGetConfig:   {checkedHere, "operator:read"},
	MethodAutopilotSetConfig:   {checkedHere, "operator:write"},
	MethodAutopilotState:       {checkedHere, "operator:read"},

	MethodCatalogRegister:     {checkedHere, "node:write, service:write"},
	MethodCatalogDeregister:   {checkedHere, "node:write"},
	MethodCatalogNodes:        {checkedHere, "node:read, filtered"},
	MethodCatalogServices:     {checkedHere, "service:read, filtered"},
	MethodCatalogServiceNodes: {checkedHere, "service:read, node:read, filtered"},
	MethodCatalogNodeServices: {checkedHere, "node:read"},
	MethodCatalogDatacenters:  {noPermission, "datacenter names"},
	MethodHealthChecks:        {checkedHere, "node:read or service:read, filtered"},
	MethodCatalogDump:         {checkedHere, "node:read, service:read, filtered"},

	MethodSessionCreate:  {checkedHere, "session:write on the node"},
	MethodSessionDestroy: {checkedHere, "session:write on the node"},
	MethodSessionRenew:   {checkedHere, "session:write on the node"},
	MethodSessionGet:     {checkedHere, "session:read, filtered"},

	MethodCoordinateUpdate:      {checkedHere, "node:write"},
	MethodCoordinateNodes:       {checkedHere, "node:read, filtered"},
	MethodCoordinateDatacenters: {noPermission, "server coordinates"},
	MethodEventFire:             {checkedHere, "event:write"},

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

	// KV.Changes is asked by the leader of a replicating datacenter with
	// its acl.tokens.replication.
	MethodKVChanges:           {checkedHere, "key:read on every key under each prefix"},
	MethodKVReplicationStatus: {checkedHere, "operator:read"},

	MethodKeyringOperation: {checkedHere, "keyring:read to list, keyring:write to change"},

	MethodPreparedQueryApply:         {checkedHere, "query:write"},
	MethodPreparedQueryGet:           {checkedHere, "query:read, filtered"},
	MethodPreparedQueryExecute:       {checkedHere, "query:read; results filtered by node:read and service:read"},
	MethodPreparedQueryExecuteRemote: {checkedHere, "none: results filtered by node:read and service:read (query:read was checked where it was asked)"},
}
