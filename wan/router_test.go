package wan

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/serf/coordinate"
)

// routerDriver runs the commands of router transcripts:
//
//	router dc=<dc> local=<node.dc> [hold=<ticks>]   new router
//	join|update|fail|leave|reap <name>... [addr=<ip>] [port=<n>] [dc=<tag>] [role=<tag>] [status=<s>]
//	coord <name> [x=<ms>] [y=<ms>] [height=<ms>] [adj=<ms>] [dims=<n>] [nan]
//	rpc-fail <name> | rpc-ok <name> | tick [<n>]
//	servers <dc> | relays <dc> | datacenters | routes
type routerDriver struct {
	r *Router
}

func (d *routerDriver) do(cmd string, args []string) string {
	pos, kv := splitArgs(args)
	if d.r == nil && cmd != "router" {
		d.r = NewRouter(RouterConfig{Datacenter: "dc1", LocalName: "local.dc1"})
	}
	switch cmd {
	case "router":
		hold, _ := strconv.Atoi(kv["hold"])
		d.r = NewRouter(RouterConfig{Datacenter: kv["dc"], LocalName: kv["local"], FailureHoldTicks: hold})
		return "ok"
	case "join", "update", "fail", "leave", "reap":
		return d.event(cmd, pos, kv)
	case "coord":
		return result(d.r.UpdateCoordinate(pos[0], testCoord(kv)))
	case "rpc-fail":
		return result(d.r.MarkFailed(pos[0]))
	case "rpc-ok":
		return result(d.r.MarkHealthy(pos[0]))
	case "tick":
		n := 1
		if len(pos) > 0 {
			n, _ = strconv.Atoi(pos[0])
		}
		for range n {
			d.r.Tick()
		}
		return "ok"
	case "servers":
		return d.servers(pos[0])
	case "relays":
		return d.relays(pos[0])
	case "datacenters":
		return strings.Join(d.r.Datacenters(), " ")
	case "routes":
		var b strings.Builder
		for _, dc := range d.r.Datacenters() {
			fmt.Fprintf(&b, "%s: %s\n", dc, strings.ReplaceAll(strings.TrimRight(d.servers(dc), "\n"), "\n", ", "))
		}
		return b.String()
	default:
		return "unknown command " + cmd
	}
}

// event builds a member event: every name gets the same tags.
func (d *routerDriver) event(cmd string, names []string, kv map[string]string) string {
	kinds := map[string]EventKind{"join": EventJoin, "update": EventUpdate, "fail": EventFailed, "leave": EventLeave, "reap": EventReap}
	status := map[string]Status{"join": StatusAlive, "update": StatusAlive, "fail": StatusFailed, "leave": StatusLeft, "reap": StatusLeft}[cmd]
	if s, ok := kv["status"]; ok {
		status = Status(s)
	}
	ev := Event{Kind: kinds[cmd]}
	for _, name := range names {
		_, dc, _ := SplitMemberName(name)
		tags := map[string]string{TagRole: TagRoleServer, TagDatacenter: dc, TagPort: "8300"}
		for _, k := range []string{"dc", "role", "port"} {
			if v, ok := kv[k]; ok {
				tags[map[string]string{"dc": TagDatacenter, "role": TagRole, "port": TagPort}[k]] = v
			}
		}
		addr := "10.0.0.1"
		if a, ok := kv["addr"]; ok {
			addr = a
		}
		ev.Members = append(ev.Members, Member{Name: name, Addr: net.ParseIP(addr), Tags: tags, Status: status})
	}
	return result(d.r.Observe(ev))
}

func (d *routerDriver) servers(dc string) string {
	servers, err := d.r.ServersFor(dc)
	if err != nil {
		return result(err)
	}
	var b strings.Builder
	for _, s := range servers {
		rtt := "?"
		if s.HasRTT {
			rtt = fmt.Sprintf("%.1fms", float64(s.RTT)/float64(time.Millisecond))
		}
		fmt.Fprintf(&b, "%s %s rtt=%s\n", s.Name, s.Addr, rtt)
	}
	return b.String()
}

func (d *routerDriver) relays(dc string) string {
	servers, err := d.r.RelaysFor(dc)
	if err != nil {
		return result(err)
	}
	if len(servers) == 0 {
		return "none"
	}
	var b strings.Builder
	for _, s := range servers {
		path := "?"
		if s.HasRTT {
			path = fmt.Sprintf("%.1fms", float64(s.RTT)/float64(time.Millisecond))
		}
		fmt.Fprintf(&b, "%s %s path=%s\n", s.Name, s.Addr, path)
	}
	return b.String()
}

// testCoord builds a coordinate with the given vector components, height
// and adjustment in milliseconds.
func testCoord(kv map[string]string) *coordinate.Coordinate {
	cfg := coordinate.DefaultConfig()
	if n, err := strconv.Atoi(kv["dims"]); err == nil {
		cfg.Dimensionality = uint(n)
	}
	c := coordinate.NewCoordinate(cfg)
	ms := func(k string) float64 {
		v, _ := strconv.ParseFloat(kv[k], 64)
		return v / 1000
	}
	c.Vec[0] = ms("x")
	if len(c.Vec) > 1 {
		c.Vec[1] = ms("y")
	}
	c.Height, c.Adjustment = ms("height"), ms("adj")
	if _, ok := kv["nan"]; ok {
		c.Vec[0] = math.NaN()
	}
	return c
}

// splitArgs separates positional arguments from key=value ones.
func splitArgs(args []string) ([]string, map[string]string) {
	var pos []string
	kv := make(map[string]string)
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			kv[k] = v
		} else if a == "nan" {
			kv[a] = ""
		} else {
			pos = append(pos, a)
		}
	}
	return pos, kv
}

func result(err error) string {
	if err != nil {
		return "error: " + strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	return "ok"
}

func TestRouterErrorsMatch(t *testing.T) {
	r := NewRouter(RouterConfig{Datacenter: "dc1", LocalName: "s1.dc1"})
	if _, err := r.ServersFor("dc9"); !errors.Is(err, ErrNoPathToDC) {
		t.Fatalf("unknown dc: %v", err)
	}
	m := Member{Name: "s1.dc2", Addr: net.ParseIP("10.0.0.2"), Status: StatusAlive,
		Tags: map[string]string{TagRole: TagRoleServer, TagDatacenter: "dc2", TagPort: "8300"}}
	if err := r.Observe(Event{Kind: EventJoin, Members: []Member{m}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Observe(Event{Kind: EventFailed, Members: []Member{m}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ServersFor("dc2"); !errors.Is(err, ErrNoServers) || errors.Is(err, ErrNoPathToDC) {
		t.Fatalf("dc with failed servers: %v", err)
	}
	if err := r.MarkFailed("nobody.dc2"); !errors.Is(err, ErrUnknownServer) {
		t.Fatalf("MarkFailed(unknown): %v", err)
	}
	if err := r.UpdateCoordinate("s1.dc2", nil); !errors.Is(err, ErrBadCoordinate) {
		t.Fatalf("nil coordinate: %v", err)
	}
	bad := Member{Name: "c1", Addr: net.ParseIP("10.0.0.3"), Status: StatusAlive, Tags: map[string]string{TagRole: "node"}}
	if err := r.Observe(Event{Kind: EventJoin, Members: []Member{bad, m}}); !errors.Is(err, ErrBadMemberName) {
		t.Fatalf("join of a non-WAN member: %v", err)
	}
	if s, err := r.ServersFor("dc2"); err != nil || len(s) != 1 {
		t.Fatalf("valid member of a mixed event was not applied: %v, %v", s, err)
	}
}

// TestRouterConcurrentUse runs readers against a writer; with -race it
// checks the router's locking.
func TestRouterConcurrentUse(t *testing.T) {
	r := NewRouter(RouterConfig{Datacenter: "dc1", LocalName: "s0.dc1"})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r.Datacenters()
				r.ServersFor("dc2")
			}
		})
	}
	c := coordinate.NewCoordinate(coordinate.DefaultConfig())
	for i := range 200 {
		name := fmt.Sprintf("s%d.dc2", i%7)
		m := Member{Name: name, Addr: net.ParseIP("10.0.0.2"), Status: StatusAlive,
			Tags: map[string]string{TagRole: TagRoleServer, TagDatacenter: "dc2", TagPort: "8300"}}
		kind := []EventKind{EventJoin, EventFailed, EventJoin, EventLeave}[i%4]
		if err := r.Observe(Event{Kind: kind, Members: []Member{m}}); err != nil {
			t.Error(err)
		}
		_ = r.UpdateCoordinate(name, c)
		_ = r.MarkFailed(name)
		r.Tick()
	}
	close(stop)
	wg.Wait()
}
