package lan

import "github.com/meridian-io/meridian/internal/serfpool"

// ErrNotEncrypted is returned by keyring operations on a pool that gossips
// in clear (no EncryptKey).
var ErrNotEncrypted = serfpool.ErrNotEncrypted

// KeyringResponse is the outcome of a keyring operation across the pool,
// as Consul's /v1/operator/keyring reports it per pool.
type KeyringResponse = serfpool.KeyringResponse

// ListKeys asks every member which keys it holds. Like every keyring
// operation it is a serf query sent to every member: it returns once all
// answered, or when the query times out (seconds).
func (p *Pool) ListKeys() (KeyringResponse, error) { return p.core.ListKeys() }

// InstallKey adds a base64 key to every member's keyring (for decryption
// only, until UseKey).
func (p *Pool) InstallKey(key string) (KeyringResponse, error) { return p.core.InstallKey(key) }

// UseKey makes an installed base64 key every member's primary key.
func (p *Pool) UseKey(key string) (KeyringResponse, error) { return p.core.UseKey(key) }

// RemoveKey removes a base64 key (not the primary one) from every member.
func (p *Pool) RemoveKey(key string) (KeyringResponse, error) { return p.core.RemoveKey(key) }
