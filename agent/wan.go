package agent

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/wan"
)

// startWAN joins a server to the WAN pool of every datacenter's servers
// (unless its WAN port is disabled). Its router is handed to the server's
// forwarding.
func (a *Agent) startWAN(ctx context.Context, rpcPort int) error {
	if !a.cfg.Server || a.cfg.Ports.SerfWAN == config.PortDisabled {
		return nil
	}
	wc := wan.DefaultConfig()
	wc.NodeName, wc.NodeID, wc.Datacenter = a.cfg.NodeName, a.cfg.NodeID, a.cfg.Datacenter
	wc.BindAddr, wc.BindPort = a.cfg.BindAddr, a.cfg.Ports.SerfWAN
	wc.AdvertiseAddr, wc.AdvertisePort = a.cfg.AdvertiseAddrWAN, a.cfg.Ports.SerfWAN
	wc.RPCPort = rpcPort
	wc.Version = Version
	wc.Logger = a.base
	wc.RejoinAfterLeave = a.cfg.RejoinAfterLeave
	if a.cfg.Dev || isLoopback(a.cfg.AdvertiseAddrWAN) {
		wc.Profile = wan.ProfileLocal
	}
	if a.cfg.DataDir != "" {
		dir := filepath.Join(a.cfg.DataDir, "serf")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		wc.SnapshotPath = filepath.Join(dir, "remote.snapshot")
		if !a.cfg.DisableKeyringFile {
			wc.KeyringFile = filepath.Join(dir, "remote.keyring")
		}
	}
	if a.cfg.Encrypt != "" {
		key, err := decodeKey(a.cfg.Encrypt)
		if err != nil {
			return err
		}
		wc.EncryptKey = key
	}
	if a.gossipTransport != nil {
		t, err := a.gossipTransport(a.cfg.BindAddr, a.cfg.Ports.SerfWAN)
		if err != nil {
			return fmt.Errorf("agent: WAN gossip transport: %w", err)
		}
		wc.Transport = t
	}
	pool, err := wan.New(wc)
	if err != nil {
		return err
	}
	a.wan = pool
	return pool.Start(ctx)
}

// joinWAN joins the WAN addresses of -join-wan once and -retry-join-wan
// until one answers; failures are logged and the agent keeps running.
func (a *Agent) joinWAN(ctx context.Context) error {
	if a.wan == nil {
		return nil
	}
	if len(a.cfg.StartJoinWAN) > 0 {
		if err := a.joinOnce(ctx, "WAN", a.cfg.StartJoinWAN, a.wan.Join); err != nil {
			return err
		}
	}
	if len(a.cfg.RetryJoinWAN) == 0 {
		return nil
	}
	done := a.wan.RetryJoin(a.cfg.RetryJoinWAN, a.cfg.RetryIntervalWAN, 0)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		select {
		case err := <-done:
			if err != nil {
				a.log.Warn("WAN retry-join stopped", "addrs", a.cfg.RetryJoinWAN, "error", err)
			} else {
				a.log.Info("joined the WAN pool", "addrs", a.cfg.RetryJoinWAN)
			}
		case <-a.ctx.Done():
		}
	}()
	return nil
}

// WANAddr is the WAN gossip address other datacenters' servers join, ""
// on agents without a WAN pool.
func (a *Agent) WANAddr() string {
	if a.wan == nil {
		return ""
	}
	m := a.wan.LocalMember()
	return net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
}

// WANRouter is the router that forwarding by ?dc= asks (kept current by
// the WAN pool), nil on agents without a WAN pool.
func (a *Agent) WANRouter() *wan.Router {
	if a.wan == nil {
		return nil
	}
	return a.wan.Router()
}
