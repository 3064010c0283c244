package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/hashicorp/go-sockaddr/template"
)

// parseIP parses a literal IP address (no host names, no templates).
func parseIP(key, s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%s %q is not a valid IP address", key, s)
	}
	return a.Unmap(), nil
}

// resolveAddrs validates the bind, client and advertise addresses and
// fills ClientAddrs, HTTPAddrs, DNSAddrs, AdvertiseAddr and
// AdvertiseAddrWAN, as Consul does. Each may be a go-sockaddr template;
// client_addr and addresses.* may name several space-separated IPs, the
// others exactly one. An unspecified bind address advertises the host's
// single private IPv4 (0.0.0.0) or single public IPv6 (::), and more or
// fewer than one is an error.
func (l *loader) resolveAddrs(c *Config) error {
	bind, err := resolveOne("bind_addr", c.BindAddr)
	if err != nil {
		return err
	}
	clients, err := resolveList("client_addr", c.ClientAddr)
	if err != nil {
		return err
	}
	c.BindAddr, c.ClientAddrs, c.ClientAddr = bind.String(), clients, clients[0]
	c.HTTPAddrs, c.DNSAddrs, c.HTTPSAddrs = clients, slices.Clone(clients), slices.Clone(clients)
	if c.addressesHTTPS != "" {
		if c.HTTPSAddrs, err = resolveList("addresses.https", c.addressesHTTPS); err != nil {
			return err
		}
	}
	if c.addressesHTTP != "" {
		if c.HTTPAddrs, err = resolveList("addresses.http", c.addressesHTTP); err != nil {
			return err
		}
	}
	if c.addressesDNS != "" {
		if c.DNSAddrs, err = resolveList("addresses.dns", c.addressesDNS); err != nil {
			return err
		}
	}

	var adv netip.Addr
	if c.AdvertiseAddr == "" {
		adv = bind
		if bind.IsUnspecified() {
			if adv, err = l.detectAddr(bind.Is4()); err != nil {
				return err
			}
		}
	} else if adv, err = parseAdvertise("advertise_addr", c.AdvertiseAddr); err != nil {
		return err
	}
	c.AdvertiseAddr = adv.String()

	if c.AdvertiseAddrWAN == "" {
		c.AdvertiseAddrWAN = c.AdvertiseAddr
		return nil
	}
	wan, err := parseAdvertise("advertise_addr_wan", c.AdvertiseAddrWAN)
	if err != nil {
		return err
	}
	c.AdvertiseAddrWAN = wan.String()
	return nil
}

// expandTemplate runs s through go-sockaddr's template language (a plain
// address passes through unchanged) and splits the result on spaces.
func expandTemplate(key, s string) ([]string, error) {
	if strings.Contains(s, "{{") {
		out, err := template.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", key, err)
		}
		s = out
	}
	return strings.Fields(s), nil
}

// resolveList resolves a space-separated list or template of IPs; it
// must name at least one, and duplicates are dropped.
func resolveList(key, s string) ([]string, error) {
	fields, err := expandTemplate(key, s)
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s %q names no address", key, s)
	}
	var out []string
	for _, f := range fields {
		a, err := parseIP(key, f)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, a.String()) {
			out = append(out, a.String())
		}
	}
	return out, nil
}

// resolveOne resolves an IP or a template that must name exactly one.
func resolveOne(key, s string) (netip.Addr, error) {
	fields, err := expandTemplate(key, s)
	if err != nil {
		return netip.Addr{}, err
	}
	switch len(fields) {
	case 0:
		return netip.Addr{}, fmt.Errorf("%s %q names no address", key, s)
	case 1:
		return parseIP(key, fields[0])
	}
	return netip.Addr{}, fmt.Errorf("%s: multiple addresses found (%s); please configure only one", key, strings.Join(fields, ", "))
}

func parseAdvertise(key, s string) (netip.Addr, error) {
	a, err := resolveOne(key, s)
	if err != nil {
		return a, err
	}
	if a.IsUnspecified() {
		return a, fmt.Errorf("%s cannot be 0.0.0.0, :: or [::]", key)
	}
	return a, nil
}

// detectAddr picks the one private IPv4 (v4) or public IPv6 address of
// the host's active interfaces.
func (l *loader) detectAddr(v4 bool) (netip.Addr, error) {
	kind := "private IPv4"
	if !v4 {
		kind = "public IPv6"
	}
	raw, err := l.interfaceAddrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("error detecting %s address: %w", kind, err)
	}
	var found []netip.Addr
	for _, a := range raw {
		ip, ok := addrIP(a)
		if !ok {
			continue
		}
		keep := ip.Is4() && isPrivateIPv4(ip)
		if !v4 {
			keep = ip.Is6() && ip.IsGlobalUnicast() && !ip.IsPrivate()
		}
		if keep && !slices.Contains(found, ip) {
			found = append(found, ip)
		}
	}
	switch len(found) {
	case 0:
		return netip.Addr{}, fmt.Errorf("no %s address found", kind)
	case 1:
		return found[0], nil
	}
	return netip.Addr{}, fmt.Errorf("multiple %s addresses found (%s); please configure one with 'bind' and/or 'advertise'",
		kind, joinAddrs(found))
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// addrIP extracts the IP of an interface address.
func addrIP(a net.Addr) (netip.Addr, bool) {
	var ip net.IP
	switch a := a.(type) {
	case *net.IPNet:
		ip = a.IP
	case *net.IPAddr:
		ip = a.IP
	default:
		return netip.Addr{}, false
	}
	addr, ok := netip.AddrFromSlice(ip)
	return addr.Unmap(), ok
}

// privateIPv4 are the blocks Consul treats as private: RFC 1918 and the
// RFC 6598 shared address space.
var privateIPv4 = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
}

func isPrivateIPv4(ip netip.Addr) bool {
	for _, p := range privateIPv4 {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// activeInterfaceAddrs lists the addresses of the host's up interfaces,
// falling back to loopback ones when there are no others (as Consul does).
func activeInterfaceAddrs() ([]net.Addr, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var up, loopback []net.Addr
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			return nil, err
		}
		if iface.Flags&net.FlagLoopback != 0 {
			loopback = append(loopback, addrs...)
			continue
		}
		up = append(up, addrs...)
	}
	if len(up) == 0 {
		return loopback, nil
	}
	return up, nil
}

// normalizeRecursor returns a recursor as "ip:port", adding port 53.
func normalizeRecursor(s string) (string, error) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.AddrPortFrom(a.Unmap(), 53).String(), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
		return "", fmt.Errorf("recursor %q is not a valid IP address or IP:port", s)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String(), nil
}
