// Package freeport finds ports free on 127.0.0.1 for agents started by
// tests and by meridian dev federations.
//
// It imports no Meridian package.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
)

// Local returns n distinct ports that are free on 127.0.0.1 for
// both TCP and UDP right now (gossip needs both on its port). They come
// from outside the kernel's ephemeral range: a port the kernel handed out
// for a listener on :0 is as likely to be taken next by some process's
// outgoing connection before the agent binds it. A port is handed out at
// most once per process (until all have been).
func Local(n int) ([]int, error) {
	lo, hi := freePortRange()
	freePorts.Lock()
	defer freePorts.Unlock()
	if freePorts.given == nil || len(freePorts.given) > (hi-lo)/2 {
		freePorts.given = map[int]bool{}
	}
	var out []int
	span := hi - lo + 1
	start := rand.IntN(span)
	for i := 0; len(out) < n && i < span; i++ {
		port := lo + (start+i)%span
		if freePorts.given[port] || !bindable(port) {
			continue
		}
		freePorts.given[port] = true
		out = append(out, port)
	}
	if len(out) < n {
		return nil, fmt.Errorf("freeport: only %d of %d free ports on 127.0.0.1 in %d-%d", len(out), n, lo, hi)
	}
	return out, nil
}

var freePorts struct {
	sync.Mutex
	given map[int]bool
}

// freePortRange is the range Local draws from: below the
// ephemeral range when there is room (Linux's default 32768-60999 leaves
// 10000-32767), else above it.
func freePortRange() (int, int) {
	elo, ehi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var a, z int
		if _, err := fmt.Sscan(string(b), &a, &z); err == nil && a > 0 && z >= a {
			elo, ehi = a, z
		}
	}
	if elo-1 >= 10000+2000 {
		return 10000, elo - 1
	}
	if ehi+1 <= 65535-2000 {
		return ehi + 1, 65535
	}
	return 1024, 65535 // no room outside it: take the chance
}

// bindable reports whether port is free on 127.0.0.1 for TCP and UDP.
func bindable(port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	tl, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer tl.Close()
	ul, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	ul.Close()
	return true
}
