package store

import (
	"fmt"
	"sort"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
)

// Nodes lists every node, sorted by name.
func (s *Store) Nodes(ws memdb.WatchSet) (uint64, []*pb.Node, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := maxIndex(tx, ws, tableNodes)
	it, err := tx.Get(tableNodes, "id")
	if err != nil {
		return 0, nil, fmt.Errorf("nodes: %w", err)
	}
	var out []*pb.Node
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*pb.Node))
	}
	return idx, out, nil
}

// Node returns one node, or nil.
func (s *Store) Node(ws memdb.WatchSet, name string) (uint64, *pb.Node, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := maxIndex(tx, ws, tableNodes)
	n, err := nodeFirst(tx, name)
	return idx, n, err
}

// Services maps every service name to the union of its instances' tags,
// counting only instances on nodes whose meta has every pair of nodeMeta.
func (s *Store) Services(ws memdb.WatchSet, nodeMeta map[string]string) (uint64, map[string][]string, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := maxIndex(tx, ws, tableServices, tableNodes)
	it, err := tx.Get(tableServices, "id")
	if err != nil {
		return 0, nil, fmt.Errorf("services: %w", err)
	}
	tags := map[string]map[string]struct{}{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		svc := raw.(*pb.Service)
		if len(nodeMeta) > 0 {
			n, err := nodeFirst(tx, svc.Node)
			if err != nil {
				return 0, nil, err
			}
			if n == nil || !MetaMatches(n.Meta, nodeMeta) {
				continue
			}
		}
		set := tags[svc.Service]
		if set == nil {
			set = map[string]struct{}{}
			tags[svc.Service] = set
		}
		for _, t := range svc.Tags {
			set[t] = struct{}{}
		}
	}
	out := make(map[string][]string, len(tags))
	for name, set := range tags {
		out[name] = sortedKeys(set)
	}
	return idx, out, nil
}

// AllServiceInstances lists every service instance with its node, counting
// only nodes whose meta has every pair of nodeMeta, sorted by service
// name, node and service ID. Its index and watches are those of Services.
func (s *Store) AllServiceInstances(ws memdb.WatchSet, nodeMeta map[string]string) (uint64, []*pb.ServiceInstance, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := maxIndex(tx, ws, tableServices, tableNodes)
	it, err := tx.Get(tableServices, "id")
	if err != nil {
		return 0, nil, fmt.Errorf("services: %w", err)
	}
	var out []*pb.ServiceInstance
	for raw := it.Next(); raw != nil; raw = it.Next() {
		svc := raw.(*pb.Service)
		n, err := nodeFirst(tx, svc.Node)
		if err != nil {
			return 0, nil, err
		}
		if n == nil || !MetaMatches(n.Meta, nodeMeta) {
			continue
		}
		out = append(out, &pb.ServiceInstance{Node: n, Service: svc})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Service.Service != b.Service.Service {
			return a.Service.Service < b.Service.Service
		}
		if a.Node.Node != b.Node.Node {
			return a.Node.Node < b.Node.Node
		}
		return a.Service.Id < b.Service.Id
	})
	return idx, out, nil
}

// MetaMatches reports whether meta holds every pair of want.
func MetaMatches(meta, want map[string]string) bool {
	for k, v := range want {
		if got, ok := meta[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// serviceIndex is the index of reads of one service, watching only what
// moves when that service's instances, checks or nodes change. A service
// that never existed falls back to the services table.
func serviceIndex(tx *memdb.Txn, ws memdb.WatchSet, name string) uint64 {
	if idx := maxIndex(tx, ws, serviceIndexName(name)); idx > 0 {
		return idx
	}
	return maxIndex(tx, ws, tableServices)
}

// ServiceInstances lists the instances of a service with their nodes and,
// with withChecks, the checks that bear on each (the node's checks and the
// instance's own), sorted by node then service ID.
func (s *Store) ServiceInstances(ws memdb.WatchSet, name string, withChecks bool) (uint64, []*pb.ServiceInstance, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := serviceIndex(tx, ws, name)
	it, err := tx.Get(tableServices, "service", name)
	if err != nil {
		return 0, nil, fmt.Errorf("service %q: %w", name, err)
	}
	var out []*pb.ServiceInstance
	nodeChecks := map[string][]*pb.HealthCheck{} // per node, its node-level checks
	for raw := it.Next(); raw != nil; raw = it.Next() {
		svc := raw.(*pb.Service)
		n, err := nodeFirst(tx, svc.Node)
		if err != nil {
			return 0, nil, err
		}
		if n == nil {
			continue
		}
		inst := &pb.ServiceInstance{Node: n, Service: svc}
		if withChecks {
			nc, ok := nodeChecks[n.Node]
			if !ok {
				all, err := checksOfNode(tx, n.Node)
				if err != nil {
					return 0, nil, err
				}
				for _, c := range all {
					if c.ServiceId == "" {
						nc = append(nc, c)
					}
				}
				nodeChecks[n.Node] = nc
			}
			inst.Checks = append(inst.Checks, nc...)
			cit, err := tx.Get(tableChecks, "node_service", svc.Node, svc.Id)
			if err != nil {
				return 0, nil, err
			}
			for craw := cit.Next(); craw != nil; craw = cit.Next() {
				inst.Checks = append(inst.Checks, craw.(*pb.HealthCheck))
			}
		}
		out = append(out, inst)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Node.Node != out[j].Node.Node {
			return out[i].Node.Node < out[j].Node.Node
		}
		return out[i].Service.Id < out[j].Service.Id
	})
	return idx, out, nil
}

// NodeServices returns a node and its services, or a nil node.
func (s *Store) NodeServices(ws memdb.WatchSet, name string) (uint64, *pb.Node, []*pb.Service, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := maxIndex(tx, ws, tableNodes, tableServices)
	n, err := nodeFirst(tx, name)
	if err != nil || n == nil {
		return idx, nil, nil, err
	}
	services, err := servicesOfNode(tx, name)
	if err != nil {
		return 0, nil, nil, err
	}
	sort.Slice(services, func(i, j int) bool { return services[i].Id < services[j].Id })
	return idx, n, services, nil
}

// NodeChecks lists a node's checks (node and service checks).
func (s *Store) NodeChecks(ws memdb.WatchSet, name string) (uint64, []*pb.HealthCheck, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := maxIndex(tx, ws, tableChecks)
	checks, err := checksOfNode(tx, name)
	sortChecks(checks)
	return idx, checks, err
}

// ServiceChecks lists the checks of every instance of a service.
func (s *Store) ServiceChecks(ws memdb.WatchSet, name string) (uint64, []*pb.HealthCheck, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := serviceIndex(tx, ws, name)
	// Through the service's instances: an index of checks by service name
	// would cost every check another radix-tree entry.
	it, err := tx.Get(tableServices, "service", name)
	if err != nil {
		return 0, nil, err
	}
	var out []*pb.HealthCheck
	for raw := it.Next(); raw != nil; raw = it.Next() {
		svc := raw.(*pb.Service)
		cit, err := tx.Get(tableChecks, "node_service", svc.Node, svc.Id)
		if err != nil {
			return 0, nil, err
		}
		for craw := cit.Next(); craw != nil; craw = cit.Next() {
			out = append(out, craw.(*pb.HealthCheck))
		}
	}
	sortChecks(out)
	return idx, out, nil
}

// ChecksInState lists checks with the given status, or every check for
// HealthAny. The checks are scanned rather than indexed by status: an
// index entry per check cost ~450 B of memory for a read that answers
// from a scan of 10,000 checks in about a millisecond, and whose blocking
// form watches the whole table either way.
func (s *Store) ChecksInState(ws memdb.WatchSet, state string) (uint64, []*pb.HealthCheck, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := maxIndex(tx, ws, tableChecks)
	it, err := tx.Get(tableChecks, "id")
	if err != nil {
		return 0, nil, err
	}
	var out []*pb.HealthCheck
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if c := raw.(*pb.HealthCheck); state == HealthAny || c.Status == state {
			out = append(out, c)
		}
	}
	sortChecks(out)
	return idx, out, nil
}

func sortChecks(cs []*pb.HealthCheck) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Node != cs[j].Node {
			return cs[i].Node < cs[j].Node
		}
		return cs[i].CheckId < cs[j].CheckId
	})
}

// ServiceIndex is the index ServiceInstances of name would return, and
// whether the service has its own index (it has once any instance of it
// was registered); it adds the same watch to ws. Two reads of a service
// that return the same index read the same instances.
func (s *Store) ServiceIndex(ws memdb.WatchSet, name string) (uint64, bool) {
	tx := s.readTxn()
	defer tx.Abort()
	if idx := maxIndex(tx, ws, serviceIndexName(name)); idx > 0 {
		return idx, true
	}
	return maxIndex(tx, ws, tableServices), false
}
