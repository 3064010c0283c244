package health

import (
	"fmt"

	"github.com/meridian-io/meridian/pb"
)

// Maintenance checks (Consul's IDs, names and default reasons).
const (
	// NodeMaintenanceCheckID is the critical check that puts the node in
	// maintenance.
	NodeMaintenanceCheckID = "_node_maintenance"
	// ServiceMaintenancePrefix prefixes the service ID in the ID of a
	// service's maintenance check.
	ServiceMaintenancePrefix = "_service_maintenance:"

	defaultNodeMaintReason    = "Maintenance mode is enabled for this node, but no reason was provided. This is a default message."
	defaultServiceMaintReason = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message."
)

// ServiceMaintenanceCheckID returns the ID of the maintenance check of a
// service: "_service_maintenance:<serviceID>".
func ServiceMaintenanceCheckID(serviceID string) string {
	return ServiceMaintenancePrefix + serviceID
}

// EnableNodeMaintenance adds the critical _node_maintenance check with
// Notes = reason (a default text when empty). It does nothing when the node
// is already in maintenance.
func (s *State) EnableNodeMaintenance(reason string) {
	if reason == "" {
		reason = defaultNodeMaintReason
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.checks[NodeMaintenanceCheckID]; cs != nil && !cs.deleted {
		return
	}
	s.addCheckLocked(&pb.HealthCheck{
		CheckId: NodeMaintenanceCheckID,
		Name:    "Node Maintenance Mode",
		Notes:   reason,
		Status:  StatusCritical,
		Type:    TypeMaintenance,
	})
	s.changedLocked(true)
	s.logger.Info("node entered maintenance mode")
}

// DisableNodeMaintenance removes the _node_maintenance check, if any.
func (s *State) DisableNodeMaintenance() {
	if err := s.RemoveCheck(NodeMaintenanceCheckID); err == nil {
		s.logger.Info("node left maintenance mode")
	}
}

// NodeMaintenance reports whether the node is in maintenance.
func (s *State) NodeMaintenance() bool { return s.Check(NodeMaintenanceCheckID) != nil }

// EnableServiceMaintenance adds the critical _service_maintenance:<id>
// check of a registered service with Notes = reason (a default text when
// empty). It does nothing when the service is already in maintenance.
func (s *State) EnableServiceMaintenance(serviceID, reason string) error {
	if reason == "" {
		reason = defaultServiceMaintReason
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.services[serviceID]
	if ss == nil || ss.deleted {
		return fmt.Errorf("%w: No service registered with ID %q", ErrUnknownService, serviceID)
	}
	id := ServiceMaintenanceCheckID(serviceID)
	if cs := s.checks[id]; cs != nil && !cs.deleted {
		return nil
	}
	s.addCheckLocked(&pb.HealthCheck{
		CheckId:   id,
		Name:      "Service Maintenance Mode",
		Notes:     reason,
		ServiceId: serviceID,
		Status:    StatusCritical,
		Type:      TypeMaintenance,
	})
	s.changedLocked(true)
	s.logger.Info("service entered maintenance mode", "service", serviceID)
	return nil
}

// DisableServiceMaintenance removes the maintenance check of a registered
// service, if any.
func (s *State) DisableServiceMaintenance(serviceID string) error {
	if s.Service(serviceID) == nil {
		return fmt.Errorf("%w: No service registered with ID %q", ErrUnknownService, serviceID)
	}
	if err := s.RemoveCheck(ServiceMaintenanceCheckID(serviceID)); err == nil {
		s.logger.Info("service left maintenance mode", "service", serviceID)
	}
	return nil
}

// ServiceMaintenance reports whether a service is in maintenance.
func (s *State) ServiceMaintenance(serviceID string) bool {
	return s.Check(ServiceMaintenanceCheckID(serviceID)) != nil
}
