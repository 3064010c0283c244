package serfpool

import (
	"errors"
	"testing"
)

func TestNormalizeAddr(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"10.0.0.1", "10.0.0.1:8301"},
		{"10.0.0.1:9000", "10.0.0.1:9000"},
		{" node1.example ", "node1.example:8301"},
		{"node1.example:8400", "node1.example:8400"},
		{"::1", "[::1]:8301"},
		{"[::1]", "[::1]:8301"},
		{"[::1]:9000", "[::1]:9000"},
		{"fe80::1:2", "[fe80::1:2]:8301"},
		{"", ""},
		{":8301", ""},
		{"host:0", ""},
		{"host:port", ""},
		{"host:70000", ""},
		{"a:b:c", ""},
		{"[]", ""},
		{"[::1", ""},
	}
	for _, tc := range cases {
		got, err := normalizeAddr(tc.in, 8301)
		if tc.want == "" {
			if !errors.Is(err, ErrBadAddress) {
				t.Errorf("normalizeAddr(%q) = %q, %v; want ErrBadAddress", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("normalizeAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if got, err := normalizeAddr("10.0.0.1", 8302); err != nil || got != "10.0.0.1:8302" {
		t.Errorf("normalizeAddr with WAN default port = %q, %v", got, err)
	}
	if _, err := normalizeAddrs(nil, 8301); !errors.Is(err, ErrNoAddresses) {
		t.Errorf("normalizeAddrs(nil, 8301) err = %v, want ErrNoAddresses", err)
	}
}
