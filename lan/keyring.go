package lan

import "github.com/meridian-io/meridian/internal/serfpool"

// ErrNotEncrypted is returned by keyring operations on a pool that gossips
// in clear (no EncryptKey).
var ErrNotEncrypted = serfpool.ErrNotEncrypted

// ErrBadKey (a key that is not base64 of 16, 24 or 32 bytes),
// ErrPrimaryKey (removing the key the pool encrypts with) and
// ErrKeyNotInstalled (using a key that is not installed) refuse a keyring
// operation before it reaches any member.
var (
	ErrBadKey          = serfpool.ErrBadKey
	ErrPrimaryKey      = serfpool.ErrPrimaryKey
	ErrKeyNotInstalled = serfpool.ErrKeyNotInstalled
	// ErrIncomplete: some members did not answer (none failed).
	ErrIncomplete = serfpool.ErrIncomplete
)

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
