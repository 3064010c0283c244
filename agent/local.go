package agent

import "github.com/meridian-io/meridian/pb"

// localServices are the services registered on this agent.
func (a *Agent) localServices() []*pb.Service {
	return nil
}
