package dns

import (
	"context"
	"errors"
	"time"
)

// Backend is the catalog as the DNS server reads it. Every method takes
// the datacenter to read (the local one, or another that the backend
// routes to); stale allows any server to answer from its own state.
type Backend interface {
	// ServiceNodes returns the instances of service carrying tag (any when
	// tag is empty) with their node's and their own checks; onlyPassing
	// may let the backend leave out instances that are not passing.
	ServiceNodes(ctx context.Context, dc, service, tag string, onlyPassing, stale bool) ([]Instance, Meta, error)
	// Node returns the named node, or nil when it is not in the catalog.
	Node(ctx context.Context, dc, name string, stale bool) (*Node, Meta, error)
	// Nodes returns every node of the datacenter (reverse lookups).
	Nodes(ctx context.Context, dc string, stale bool) ([]Node, Meta, error)
	// Services returns the names of every service (reverse lookups).
	Services(ctx context.Context, dc string, stale bool) ([]string, Meta, error)
	// PreparedQuery executes the prepared query with this name or ID, with
	// its failover, and returns the instances it chose, in its order.
	// source is the asking client's IP address (for a query near "_ip"),
	// empty when unknown.
	PreparedQuery(ctx context.Context, dc, nameOrID, source string, stale bool) (QueryResult, Meta, error)
}

// Errors a Backend returns, wrapped; the server answers NXDOMAIN for them
// as Consul does. Any other error is answered SERVFAIL.
var (
	// ErrNoPathToDC says the datacenter is unknown or unreachable.
	ErrNoPathToDC = errors.New("no path to datacenter")
	// ErrQueryNotFound says no prepared query has that name or ID.
	ErrQueryNotFound = errors.New("query not found")
)

// Node is a catalog node.
type Node struct {
	Name            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
}

// Instance is one service instance with its node and checks.
type Instance struct {
	Node    Node
	ID      string
	Service string
	Tags    []string
	// Address is the service's own address; empty means the node's.
	Address string
	Port    int
	// Weights are the SRV weights by health; nil means 1 and 1.
	Weights *Weights
	Checks  []Check
}

// Weights are an instance's SRV weights when passing and when warning.
type Weights struct {
	Passing int
	Warning int
}

// Check is the part of a health check DNS needs.
type Check struct {
	ID string
	// Status is passing, warning, critical or maintenance.
	Status string
}

// Health statuses.
const (
	StatusPassing     = "passing"
	StatusWarning     = "warning"
	StatusCritical    = "critical"
	StatusMaintenance = "maintenance"
)

// QueryResult is what a prepared query chose.
type QueryResult struct {
	// Service is the service the query looked up, Datacenter where it found
	// the instances (another one after a failover).
	Service    string
	Datacenter string
	Instances  []Instance
	// TTL overrides the service's TTL when set (the query's DNS TTL).
	TTL *time.Duration
}

// Meta says how fresh a read was.
type Meta struct {
	// Index is the catalog index the answer reflects (blocking queries).
	Index uint64
	// LastContact is how long ago the answering server last heard from
	// the leader (0 on the leader).
	LastContact time.Duration
	KnownLeader bool
}
