package wan

import (
	"errors"
	"fmt"
	"maps"

	"github.com/hashicorp/serf/serf"
)

// ErrNotEncrypted is returned by keyring operations on a pool that gossips
// in clear (no EncryptKey).
var ErrNotEncrypted = errors.New("wan pool is not encrypted")

// KeyringResponse is the outcome of a keyring operation across the WAN
// pool, as Consul's /v1/operator/keyring reports it per pool.
type KeyringResponse struct {
	// Keys maps each base64 key to the number of servers holding it;
	// PrimaryKeys does the same for the key each server encrypts with.
	Keys        map[string]int
	PrimaryKeys map[string]int
	// NumNodes servers were asked, NumResp answered, NumErr failed.
	NumNodes, NumResp, NumErr int
	// Messages holds the servers' error messages, by member name.
	Messages map[string]string
}

// ListKeys asks every server which keys it holds. Like every keyring
// operation it is a serf query: it returns when the query times out
// (seconds with the WAN profile).
func (p *Pool) ListKeys() (KeyringResponse, error) {
	return p.keyOp("list", func(k *serf.KeyManager) (*serf.KeyResponse, error) { return k.ListKeys() })
}

// InstallKey adds a base64 key to every server's keyring (for decryption
// only, until UseKey).
func (p *Pool) InstallKey(key string) (KeyringResponse, error) {
	return p.keyOp("install", func(k *serf.KeyManager) (*serf.KeyResponse, error) { return k.InstallKey(key) })
}

// UseKey makes an installed base64 key every server's primary key.
func (p *Pool) UseKey(key string) (KeyringResponse, error) {
	return p.keyOp("use", func(k *serf.KeyManager) (*serf.KeyResponse, error) { return k.UseKey(key) })
}

// RemoveKey removes a base64 key (not the primary one) from every server.
func (p *Pool) RemoveKey(key string) (KeyringResponse, error) {
	return p.keyOp("remove", func(k *serf.KeyManager) (*serf.KeyResponse, error) { return k.RemoveKey(key) })
}

// keyOp runs one keyring query and copies its response.
func (p *Pool) keyOp(op string, f func(*serf.KeyManager) (*serf.KeyResponse, error)) (KeyringResponse, error) {
	s, err := p.core.Serf()
	if err != nil {
		return KeyringResponse{}, err
	}
	if !s.EncryptionEnabled() {
		return KeyringResponse{}, fmt.Errorf("%s key: %w", op, ErrNotEncrypted)
	}
	r, err := f(s.KeyManager())
	var out KeyringResponse
	if r != nil {
		out = KeyringResponse{
			Keys:        maps.Clone(r.Keys),
			PrimaryKeys: maps.Clone(r.PrimaryKeys),
			NumNodes:    r.NumNodes,
			NumResp:     r.NumResp,
			NumErr:      r.NumErr,
			Messages:    maps.Clone(r.Messages),
		}
	}
	if err != nil {
		return out, fmt.Errorf("%s key: %w", op, err)
	}
	return out, nil
}
