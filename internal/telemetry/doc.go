// Package telemetry is the agent's metrics pipeline, built on go-metrics
// (the library hashicorp/raft, raft-boltdb, serf and memberlist emit
// through): one Sink per agent fans each metric out to Prometheus (a
// collector registered in the agent's registry), an in-memory sink (the
// JSON summary of /v1/agent/metrics) and, when configured, statsd.
//
// The libraries emit through go-metrics' process-wide global; Attach
// installs a dispatcher there once. The gossip pools label their metrics
// with their agent (AgentLabel), so those reach that agent's Sink only;
// Raft's and raft-boltdb's carry no such label and go to every server
// attached. In a process that runs one agent (every deployment) that is
// exactly that agent's; where several servers share a process (meridian
// dev, tests) each reports the Raft metrics of all. What
// Meridian's own code measures (RPCs, blocking queries) goes only to the
// Sink of the agent that measured it.
//
// It imports no Meridian package.
package telemetry
