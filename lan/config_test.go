package lan

import (
	"errors"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.NodeName = "n1"
		c.NodeID = "id-1"
		return c
	}
	cases := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"default client", func(*Config) {}, true},
		{"server with expect", func(c *Config) { c.Role = RoleServer; c.BootstrapExpect = 3 }, true},
		{"server bootstrap", func(c *Config) { c.Role = RoleServer; c.Bootstrap = true }, true},
		{"port zero", func(c *Config) { c.BindPort = 0 }, true},
		{"empty profile means lan", func(c *Config) { c.Profile = "" }, true},
		{"32-byte key", func(c *Config) { c.EncryptKey = make([]byte, 32) }, true},
		{"no name", func(c *Config) { c.NodeName = "" }, false},
		{"no id", func(c *Config) { c.NodeID = "" }, false},
		{"no dc", func(c *Config) { c.Datacenter = "" }, false},
		{"bad dc", func(c *Config) { c.Datacenter = "dc 1" }, false},
		{"bad role", func(c *Config) { c.Role = "consul" }, false},
		{"bind not ip", func(c *Config) { c.BindAddr = "localhost" }, false},
		{"advertise not ip", func(c *Config) { c.AdvertiseAddr = "example" }, false},
		{"bind port too big", func(c *Config) { c.BindPort = 70000 }, false},
		{"negative advertise port", func(c *Config) { c.AdvertisePort = -1 }, false},
		{"server without rpc port", func(c *Config) { c.Role = RoleServer; c.RPCPort = 0 }, false},
		{"client with expect", func(c *Config) { c.BootstrapExpect = 3 }, false},
		{"client bootstrap", func(c *Config) { c.Bootstrap = true }, false},
		{"bootstrap and expect", func(c *Config) { c.Role = RoleServer; c.Bootstrap = true; c.BootstrapExpect = 3 }, false},
		{"negative expect", func(c *Config) { c.Role = RoleServer; c.BootstrapExpect = -1 }, false},
		{"bad profile", func(c *Config) { c.Profile = "wan" }, false},
		{"bad key", func(c *Config) { c.EncryptKey = []byte("short") }, false},
		{"negative reconnect", func(c *Config) { c.ReconnectTimeout = -1 }, false},
		{"negative buffer", func(c *Config) { c.EventBuffer = -1 }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			err := c.Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate err = %v, want ErrInvalidConfig", err)
			}
			if _, err2 := New(c); (err2 == nil) != tc.ok {
				t.Fatalf("New err = %v, want ok=%v", err2, tc.ok)
			}
		})
	}
}

func TestConfigDefaultsFilled(t *testing.T) {
	c := DefaultConfig()
	c.NodeName, c.NodeID = "n1", "id"
	c.Profile, c.ReconnectTimeout, c.TombstoneTimeout, c.EventBuffer = "", 0, 0, 0
	key := []byte("0123456789abcdef")
	c.EncryptKey = key
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	got := p.cfg
	if got.Profile != ProfileLAN || got.ReconnectTimeout != DefaultReconnectTimeout ||
		got.TombstoneTimeout != DefaultTombstoneTimeout || got.EventBuffer != defaultEventBuffer {
		t.Errorf("defaults not filled: %+v", got)
	}
	key[0] = 'X'
	if got.EncryptKey[0] != '0' {
		t.Error("New kept a reference to the caller's key")
	}
}
