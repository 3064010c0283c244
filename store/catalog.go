package store

import (
	"fmt"
	"sort"
	"strings"

	memdb "github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

// Health statuses as Consul spells them.
const (
	HealthPassing  = "passing"
	HealthWarning  = "warning"
	HealthCritical = "critical"
	HealthAny      = "any"
)

// SerfCheckID is the node check the leader keeps from LAN gossip.
const SerfCheckID = "serfHealth"

// ValidStatus reports whether s is a status a check may have.
func ValidStatus(s string) bool {
	return s == HealthPassing || s == HealthWarning || s == HealthCritical
}

// ensureRegistration applies a catalog registration: the node (unless
// skipped and present), then the service, then the checks. Any error
// leaves partial writes on tx: the caller discards it.
func ensureRegistration(tx *memdb.Txn, idx uint64, now int64, req *pb.CatalogRegister) error {
	n := req.GetNode()
	if n == nil || n.Node == "" {
		return fmt.Errorf("%w: missing node name", ErrBadCommand)
	}
	existing, err := nodeFirst(tx, n.Node)
	if err != nil {
		return err
	}
	if existing == nil || !req.SkipNodeUpdate {
		if n.Address == "" && existing == nil {
			return fmt.Errorf("%w: missing node address", ErrBadCommand)
		}
		if err := ensureNode(tx, idx, n); err != nil {
			return err
		}
	}
	if svc := req.GetService(); svc != nil {
		if err := ensureService(tx, idx, n.Node, svc); err != nil {
			return err
		}
	}
	for _, chk := range req.GetChecks() {
		if chk.Node == "" {
			chk.Node = n.Node
		}
		if !strings.EqualFold(chk.Node, n.Node) {
			return fmt.Errorf("%w: check %q is for node %q, not %q", ErrBadCommand, chk.CheckId, chk.Node, n.Node)
		}
		if err := ensureCheck(tx, idx, now, chk); err != nil {
			return err
		}
	}
	return nil
}

func nodeFirst(tx *memdb.Txn, name string) (*pb.Node, error) {
	raw, err := tx.First(tableNodes, "id", name)
	if err != nil || raw == nil {
		return nil, err
	}
	return raw.(*pb.Node), nil
}

func ensureNode(tx *memdb.Txn, idx uint64, in *pb.Node) error {
	existing, err := nodeFirst(tx, in.Node)
	if err != nil {
		return err
	}
	n := proto.Clone(in).(*pb.Node)
	n.CreateIndex, n.ModifyIndex = idx, idx
	if existing != nil {
		n.Node = existing.Node // keep the name's original case
		if n.Address == "" {
			n.Address = existing.Address
		}
		n.CreateIndex, n.ModifyIndex = existing.CreateIndex, existing.ModifyIndex
		if proto.Equal(existing, n) {
			return nil
		}
		n.ModifyIndex = idx
	}
	if err := tx.Insert(tableNodes, n); err != nil {
		return fmt.Errorf("insert node %q: %w", n.Node, err)
	}
	if err := setIndex(tx, tableNodes, idx); err != nil {
		return err
	}
	return bumpServicesOfNode(tx, idx, n.Node)
}

func ensureService(tx *memdb.Txn, idx uint64, node string, in *pb.Service) error {
	if in.Service == "" {
		return fmt.Errorf("%w: missing service name", ErrBadCommand)
	}
	svc := proto.Clone(in).(*pb.Service)
	svc.Node = node
	if svc.Id == "" {
		svc.Id = svc.Service
	}
	raw, err := tx.First(tableServices, "id", node, svc.Id)
	if err != nil {
		return err
	}
	svc.CreateIndex, svc.ModifyIndex = idx, idx
	if raw != nil {
		existing := raw.(*pb.Service)
		svc.Node = existing.Node
		svc.CreateIndex, svc.ModifyIndex = existing.CreateIndex, existing.ModifyIndex
		if proto.Equal(existing, svc) {
			return nil
		}
		svc.ModifyIndex = idx
		if !strings.EqualFold(existing.Service, svc.Service) {
			// Renamed: readers of the old name must wake too.
			if err := setIndex(tx, serviceIndexName(existing.Service), idx); err != nil {
				return err
			}
		}
	}
	if err := tx.Insert(tableServices, svc); err != nil {
		return fmt.Errorf("insert service %q: %w", svc.Id, err)
	}
	if err := setIndex(tx, tableServices, idx); err != nil {
		return err
	}
	if err := setIndex(tx, serviceIndexName(svc.Service), idx); err != nil {
		return err
	}
	return refreshServiceChecks(tx, idx, svc)
}

// refreshServiceChecks copies a service's name and tags into its checks.
func refreshServiceChecks(tx *memdb.Txn, idx uint64, svc *pb.Service) error {
	it, err := tx.Get(tableChecks, "node_service", svc.Node, svc.Id)
	if err != nil {
		return err
	}
	var stale []*pb.HealthCheck
	for raw := it.Next(); raw != nil; raw = it.Next() {
		c := raw.(*pb.HealthCheck)
		if c.ServiceName != svc.Service || !equalStrings(c.ServiceTags, svc.Tags) {
			stale = append(stale, c)
		}
	}
	for _, c := range stale {
		u := proto.Clone(c).(*pb.HealthCheck)
		u.ServiceName, u.ServiceTags, u.ModifyIndex = svc.Service, append([]string(nil), svc.Tags...), idx
		if err := tx.Insert(tableChecks, u); err != nil {
			return err
		}
		if err := setIndex(tx, tableChecks, idx); err != nil {
			return err
		}
	}
	return nil
}

func ensureCheck(tx *memdb.Txn, idx uint64, now int64, in *pb.HealthCheck) error {
	if in.CheckId == "" {
		return fmt.Errorf("%w: missing check id", ErrBadCommand)
	}
	chk := proto.Clone(in).(*pb.HealthCheck)
	if chk.Status == "" {
		chk.Status = HealthCritical
	}
	if !ValidStatus(chk.Status) {
		return fmt.Errorf("%w: check %q has invalid status %q", ErrBadCommand, chk.CheckId, chk.Status)
	}
	node, err := nodeFirst(tx, chk.Node)
	if err != nil {
		return err
	}
	if node == nil {
		return fmt.Errorf("%w: missing node registration for check %q", ErrBadCommand, chk.CheckId)
	}
	chk.Node = node.Node
	var svc *pb.Service
	if chk.ServiceId != "" {
		raw, err := tx.First(tableServices, "id", chk.Node, chk.ServiceId)
		if err != nil {
			return err
		}
		if raw == nil {
			return fmt.Errorf("%w: missing service %q for check %q", ErrBadCommand, chk.ServiceId, chk.CheckId)
		}
		svc = raw.(*pb.Service)
		chk.ServiceName, chk.ServiceTags = svc.Service, append([]string(nil), svc.Tags...)
	} else {
		chk.ServiceName, chk.ServiceTags = "", nil
	}
	raw, err := tx.First(tableChecks, "id", chk.Node, chk.CheckId)
	if err != nil {
		return err
	}
	chk.CreateIndex, chk.ModifyIndex = idx, idx
	if raw != nil {
		existing := raw.(*pb.HealthCheck)
		chk.CreateIndex, chk.ModifyIndex = existing.CreateIndex, existing.ModifyIndex
		if proto.Equal(existing, chk) {
			return nil
		}
		chk.ModifyIndex = idx
		if existing.ServiceName != "" && !strings.EqualFold(existing.ServiceName, chk.ServiceName) {
			if err := setIndex(tx, serviceIndexName(existing.ServiceName), idx); err != nil {
				return err
			}
		}
	}
	if err := tx.Insert(tableChecks, chk); err != nil {
		return fmt.Errorf("insert check %q: %w", chk.CheckId, err)
	}
	if err := setIndex(tx, tableChecks, idx); err != nil {
		return err
	}
	if chk.Status == HealthCritical {
		// Sessions bound to a critical check are invalidated.
		if err := invalidateCheckSessions(tx, idx, now, chk.Node, chk.CheckId); err != nil {
			return err
		}
	}
	if svc != nil {
		return setIndex(tx, serviceIndexName(svc.Service), idx)
	}
	// A node check counts for every service on the node.
	return bumpServicesOfNode(tx, idx, chk.Node)
}

// bumpServicesOfNode moves the index of every service on node.
func bumpServicesOfNode(tx *memdb.Txn, idx uint64, node string) error {
	services, err := servicesOfNode(tx, node)
	if err != nil {
		return err
	}
	for _, s := range services {
		if err := setIndex(tx, serviceIndexName(s.Service), idx); err != nil {
			return err
		}
	}
	return nil
}

// servicesOfNode reads a node's services from the "id" index, whose keys
// start with the node's name: a separate node index would cost every
// instance another radix-tree entry (~350 B) for nothing. The empty second
// argument makes the prefix the whole name (node "n1" is not "n10").
func servicesOfNode(tx *memdb.Txn, node string) ([]*pb.Service, error) {
	it, err := tx.Get(tableServices, "id_prefix", node, "")
	if err != nil {
		return nil, err
	}
	var out []*pb.Service
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*pb.Service))
	}
	return out, nil
}

// checksOfNode reads a node's checks from the "id" index (see
// servicesOfNode).
func checksOfNode(tx *memdb.Txn, node string) ([]*pb.HealthCheck, error) {
	it, err := tx.Get(tableChecks, "id_prefix", node, "")
	if err != nil {
		return nil, err
	}
	var out []*pb.HealthCheck
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*pb.HealthCheck))
	}
	return out, nil
}

// deregister removes a check, a service with its checks, or a whole node
// with its services and checks. Removing what is not there is a no-op.
func deregister(tx *memdb.Txn, idx uint64, now int64, req *pb.CatalogDeregister) error {
	if req.Node == "" {
		return fmt.Errorf("%w: missing node name", ErrBadCommand)
	}
	switch {
	case req.ServiceId != "":
		return deleteService(tx, idx, now, req.Node, req.ServiceId)
	case req.CheckId != "":
		return deleteCheck(tx, idx, now, req.Node, req.CheckId)
	default:
		return deleteNode(tx, idx, now, req.Node)
	}
}

func deleteCheck(tx *memdb.Txn, idx uint64, now int64, node, id string) error {
	raw, err := tx.First(tableChecks, "id", node, id)
	if err != nil || raw == nil {
		return err
	}
	chk := raw.(*pb.HealthCheck)
	if err := invalidateCheckSessions(tx, idx, now, chk.Node, chk.CheckId); err != nil {
		return err
	}
	if err := tx.Delete(tableChecks, chk); err != nil {
		return err
	}
	if err := setIndex(tx, tableChecks, idx); err != nil {
		return err
	}
	if chk.ServiceName != "" {
		return setIndex(tx, serviceIndexName(chk.ServiceName), idx)
	}
	return bumpServicesOfNode(tx, idx, chk.Node)
}

func deleteService(tx *memdb.Txn, idx uint64, now int64, node, id string) error {
	raw, err := tx.First(tableServices, "id", node, id)
	if err != nil || raw == nil {
		return err
	}
	svc := raw.(*pb.Service)
	checks, err := checksOfNode(tx, node)
	if err != nil {
		return err
	}
	for _, c := range checks {
		if c.ServiceId == id {
			if err := deleteCheck(tx, idx, now, node, c.CheckId); err != nil {
				return err
			}
		}
	}
	if err := tx.Delete(tableServices, svc); err != nil {
		return err
	}
	if err := setIndex(tx, tableServices, idx); err != nil {
		return err
	}
	return setIndex(tx, serviceIndexName(svc.Service), idx)
}

func deleteNode(tx *memdb.Txn, idx uint64, now int64, name string) error {
	node, err := nodeFirst(tx, name)
	if err != nil || node == nil {
		return err
	}
	services, err := servicesOfNode(tx, name)
	if err != nil {
		return err
	}
	for _, s := range services {
		if err := deleteService(tx, idx, now, name, s.Id); err != nil {
			return err
		}
	}
	checks, err := checksOfNode(tx, name)
	if err != nil {
		return err
	}
	for _, c := range checks {
		if err := deleteCheck(tx, idx, now, name, c.CheckId); err != nil {
			return err
		}
	}
	if err := invalidateNodeSessions(tx, idx, now, name); err != nil {
		return err
	}
	if err := deleteNodeCoordinates(tx, idx, name); err != nil {
		return err
	}
	if err := tx.Delete(tableNodes, node); err != nil {
		return err
	}
	return setIndex(tx, tableNodes, idx)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sortedKeys returns a set's members in order.
func sortedKeys(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
