package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/internal/freeport"
	"github.com/meridian-io/meridian/internal/logging"
)

// LocalNode is one agent of a cluster on 127.0.0.1: a node of a local
// federation (`meridian dev`) or of an in-process test cluster. Args turns
// it into the agent's flags.
type LocalNode struct {
	Name, Datacenter string
	Server           bool
	// BootstrapExpect is the number of servers of its datacenter (servers
	// only); 1 bootstraps alone.
	BootstrapExpect int
	DataDir         string
	// The ports it listens on; SerfWANPort is used by servers only, and
	// DNSPort 0 turns DNS off.
	HTTPPort, ServerPort, SerfLANPort, SerfWANPort, DNSPort int
	// RetryJoin are LAN addresses it retry-joins; RetryJoinWAN are WAN
	// addresses a server retry-joins.
	RetryJoin, RetryJoinWAN []string
	// RetryInterval is the interval of both retry-joins (0: the default).
	RetryInterval time.Duration
}

// Args are the agent flags of n, everything bound to 127.0.0.1.
func (n LocalNode) Args() []string {
	itoa := strconv.Itoa
	dns := n.DNSPort
	if dns == 0 {
		dns = config.PortDisabled
	}
	args := []string{
		"-node", n.Name, "-datacenter", n.Datacenter, "-data-dir", n.DataDir,
		"-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", itoa(n.HTTPPort), "-server-port", itoa(n.ServerPort),
		"-serf-lan-port", itoa(n.SerfLANPort), "-serf-wan-port", itoa(n.SerfWANPort),
		"-dns-port", itoa(dns),
	}
	if n.RetryInterval > 0 {
		args = append(args, "-retry-interval", n.RetryInterval.String(), "-retry-interval-wan", n.RetryInterval.String())
	}
	if n.Server {
		args = append(args, "-server")
		if n.BootstrapExpect <= 1 {
			args = append(args, "-bootstrap")
		} else {
			args = append(args, "-bootstrap-expect", itoa(n.BootstrapExpect))
		}
		for _, a := range n.RetryJoinWAN {
			args = append(args, "-retry-join-wan", a)
		}
	}
	for _, a := range n.RetryJoin {
		args = append(args, "-retry-join", a)
	}
	return args
}

// FreeLocalPorts returns n distinct ports that are free on 127.0.0.1 for
// both TCP and UDP right now, from outside the kernel's ephemeral range
// (see freeport.Local).
func FreeLocalPorts(n int) ([]int, error) { return freeport.Local(n) }

// DevFederationConfig shapes a local federation.
type DevFederationConfig struct {
	// Datacenters is how many datacenters (dc1..dcN) to run, at least 1.
	Datacenters int
	// Servers and Clients are the agents of each datacenter (at least 1
	// server; Clients may be 0).
	Servers, Clients int
	// Dir holds every agent's data directory; required. The caller
	// removes it.
	Dir string
	// BasePort, if not 0, is the first of the consecutive ports handed
	// out (five per agent: HTTP, server, LAN, WAN, DNS); 0 picks free
	// ports.
	BasePort int
	// Logger receives every agent's logs; nil discards them.
	Logger *slog.Logger
}

// DevNode is a running agent of a local federation.
type DevNode struct {
	LocalNode
	Agent *Agent
}

// HTTPAddr is the node's HTTP API address.
func (n *DevNode) HTTPAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.HTTPPort))
}

// DNSAddr is the node's DNS address.
func (n *DevNode) DNSAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.DNSPort))
}

// DevDatacenter is one datacenter of a local federation.
type DevDatacenter struct {
	Name  string
	Nodes []*DevNode // its servers first, then its client agents
}

// Entry is the agent applications of the datacenter talk to: its first
// client agent, or its first server when it has no client agent.
func (d *DevDatacenter) Entry() *DevNode {
	for _, n := range d.Nodes {
		if !n.Server {
			return n
		}
	}
	return d.Nodes[0]
}

// DevFederation is several datacenters of in-process agents on 127.0.0.1
// whose servers share one WAN pool: `meridian dev`.
type DevFederation struct {
	DCs []*DevDatacenter
}

// StartDevFederation starts every agent of the federation: the servers of
// each datacenter retry-join its first server over the LAN, those of dc2
// and later retry-join dc1's servers over the WAN. It does not wait for
// leaders or routes (see WaitReady). On error everything started is
// stopped.
func StartDevFederation(ctx context.Context, cfg DevFederationConfig) (*DevFederation, error) {
	switch {
	case cfg.Datacenters < 1:
		return nil, fmt.Errorf("agent: a federation needs at least 1 datacenter, not %d", cfg.Datacenters)
	case cfg.Servers < 1:
		return nil, fmt.Errorf("agent: a datacenter needs at least 1 server, not %d", cfg.Servers)
	case cfg.Clients < 0:
		return nil, fmt.Errorf("agent: %d client agents", cfg.Clients)
	case cfg.Dir == "":
		return nil, errors.New("agent: a federation needs a directory for its data")
	case cfg.BasePort < 0 || cfg.BasePort > 65535:
		return nil, fmt.Errorf("agent: base port %d out of range", cfg.BasePort)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = logging.Discard()
	}
	perDC := cfg.Servers + cfg.Clients
	total := cfg.Datacenters * perDC
	const perNode = 5
	var ports []int
	if cfg.BasePort == 0 {
		var err error
		if ports, err = FreeLocalPorts(perNode * total); err != nil {
			return nil, err
		}
	} else {
		if last := cfg.BasePort + perNode*total - 1; last > 65535 {
			return nil, fmt.Errorf("agent: base port %d leaves no room for %d ports", cfg.BasePort, perNode*total)
		}
		for i := range perNode * total {
			ports = append(ports, cfg.BasePort+i)
		}
	}
	f := &DevFederation{}
	var wanSeeds []string
	for d := range cfg.Datacenters {
		dcName := fmt.Sprintf("dc%d", d+1)
		dcOut := &DevDatacenter{Name: dcName}
		var lanSeed string
		for i := range perDC {
			p := ports[perNode*(d*perDC+i):]
			n := LocalNode{
				Datacenter: dcName, Server: i < cfg.Servers, BootstrapExpect: cfg.Servers,
				HTTPPort: p[0], ServerPort: p[1], SerfLANPort: p[2], SerfWANPort: p[3], DNSPort: p[4],
				RetryInterval: 200 * time.Millisecond,
			}
			if n.Server {
				n.Name = fmt.Sprintf("%s-server-%d", dcName, i+1)
				if d > 0 {
					n.RetryJoinWAN = wanSeeds
				}
			} else {
				n.Name = fmt.Sprintf("%s-client-%d", dcName, i-cfg.Servers+1)
			}
			n.DataDir = filepath.Join(cfg.Dir, dcName, n.Name)
			if lanSeed == "" {
				lanSeed = net.JoinHostPort("127.0.0.1", strconv.Itoa(n.SerfLANPort))
			} else {
				n.RetryJoin = []string{lanSeed}
			}
			dcOut.Nodes = append(dcOut.Nodes, &DevNode{LocalNode: n})
		}
		if d == 0 {
			for _, n := range dcOut.Nodes[:cfg.Servers] {
				wanSeeds = append(wanSeeds, net.JoinHostPort("127.0.0.1", strconv.Itoa(n.SerfWANPort)))
			}
		}
		f.DCs = append(f.DCs, dcOut)
	}
	for _, d := range f.DCs {
		for _, n := range d.Nodes {
			if err := f.start(ctx, n, logger); err != nil {
				f.Shutdown()
				return nil, err
			}
		}
	}
	return f, nil
}

func (f *DevFederation) start(ctx context.Context, n *DevNode, logger *slog.Logger) error {
	if err := os.MkdirAll(n.DataDir, 0o700); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	cfg, _, err := config.Load(n.Args())
	if err != nil {
		return fmt.Errorf("agent: configuration of %s: %w", n.Name, err)
	}
	a, err := New(cfg, logger)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		return fmt.Errorf("agent: start %s: %w", n.Name, err)
	}
	n.Agent = a
	return nil
}

// Ready returns nil once every datacenter has a leader that each of its
// servers knows, every agent sees its whole datacenter in the LAN pool,
// and every server routes to every datacenter; otherwise it says what is
// missing.
func (f *DevFederation) Ready() error {
	for _, d := range f.DCs {
		leader := ""
		for _, n := range d.Nodes {
			if n.Agent == nil {
				return fmt.Errorf("%s is not running", n.Name)
			}
			if got := n.Agent.NumLANMembers(); got != len(d.Nodes) {
				return fmt.Errorf("%s sees %d LAN members, want %d", n.Name, got, len(d.Nodes))
			}
			if !n.Server {
				continue
			}
			srv := n.Agent.Server()
			switch l := srv.LeaderAddr(); {
			case l == "":
				return fmt.Errorf("%s knows no leader", n.Name)
			case leader != "" && l != leader:
				return fmt.Errorf("%s names leader %s, another server %s", n.Name, l, leader)
			default:
				leader = l
			}
			if dcs := srv.Datacenters(); len(dcs) != len(f.DCs) {
				return fmt.Errorf("%s routes to datacenters %v, want %d of them", n.Name, dcs, len(f.DCs))
			}
		}
	}
	return nil
}

// WaitReady polls Ready until it returns nil or ctx ends, then returns
// Ready's last error.
func (f *DevFederation) WaitReady(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f.Ready()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("agent: federation not ready: %w (%v)", err, ctx.Err())
		case <-tick.C:
		}
	}
}

// Shutdown stops every agent at once, without leaving (the whole
// federation goes away together), and waits for them.
func (f *DevFederation) Shutdown() error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, d := range f.DCs {
		for _, n := range d.Nodes {
			if n.Agent == nil {
				continue
			}
			wg.Add(1)
			go func(n *DevNode) {
				defer wg.Done()
				if err := n.Agent.Shutdown(); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
					mu.Unlock()
				}
			}(n)
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}
