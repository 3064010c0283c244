// Package logging builds the agent's log/slog logger and adapts it for the
// hashicorp libraries: HCLog turns a *slog.Logger into a go-hclog Logger
// (raft, yamux), and StdLogger turns it into a *log.Logger whose lines in the
// "[LEVEL] subsystem: message" convention (memberlist, serf) are parsed back
// into slog levels and attributes. Fanout sends each record to several
// handlers: standard error, syslog, a rotating log File, and Monitors, the
// never-blocking streams behind /v1/agent/monitor. It is a leaf: it must
// not import any other Meridian package.
package logging
