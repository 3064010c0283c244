package serfpool

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// ErrNotEncrypted is returned by keyring operations on a pool that gossips
// in clear (no EncryptKey).
var ErrNotEncrypted = errors.New("gossip pool is not encrypted")

// ErrBadKey is returned for a key that is not base64 of 16, 24 or 32
// bytes, before anything is sent to the pool.
var ErrBadKey = errors.New("bad gossip key")

// ErrPrimaryKey is returned when asked to remove the key this member
// encrypts with: it would cut the member off; UseKey another one first.
var ErrPrimaryKey = errors.New("the key is the primary key; use another key first")

// ErrKeyNotInstalled is returned by UseKey for a key this member does not
// hold: InstallKey it first.
var ErrKeyNotInstalled = errors.New("the key is not installed; install it first")

// ErrIncomplete is returned when some members did not answer a keyring
// query (none reported a failure) after keyAttempts tries.
var ErrIncomplete = errors.New("some members did not answer")

// keyRelayFactor is how many other members relay each member's answer to
// a keyring query, so that one lost UDP packet does not lose the answer.
const keyRelayFactor = 2

// keyAttempts is how many times a keyring query is sent while members are
// missing from its answers. Every operation is idempotent on a member:
// installing or using a key again, or removing a key already gone.
const keyAttempts = 3

// KeyringResponse is the outcome of a keyring operation across a pool, as
// Consul's /v1/operator/keyring reports it per pool.
type KeyringResponse struct {
	// Keys maps each base64 key to the number of members holding it;
	// PrimaryKeys does the same for the key each member encrypts with.
	Keys        map[string]int
	PrimaryKeys map[string]int
	// NumNodes members were asked, NumResp answered, NumErr failed.
	NumNodes, NumResp, NumErr int
	// Messages holds the members' error messages, by member name.
	Messages map[string]string
}

// CheckKey reports whether key is base64 of a 16, 24 or 32-byte key,
// wrapping ErrBadKey when it is not.
func CheckKey(key string) error {
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return fmt.Errorf("%w: not base64: %v", ErrBadKey, err)
	}
	switch len(raw) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("%w: %d bytes, want 16, 24 or 32", ErrBadKey, len(raw))
}

// ListKeys asks every member which keys it holds. Like every keyring
// operation it is a serf query sent to every member of the pool: it
// returns once all of them answered, or when the query times out.
func (p *Pool) ListKeys() (KeyringResponse, error) {
	return p.keyOp("list", "", func(k *serf.KeyManager, o *serf.KeyRequestOptions) (*serf.KeyResponse, error) {
		return k.ListKeysWithOptions(o)
	})
}

// InstallKey adds a base64 key to every member's keyring (for decryption
// only, until UseKey).
func (p *Pool) InstallKey(key string) (KeyringResponse, error) {
	return p.keyOp("install", key, func(k *serf.KeyManager, o *serf.KeyRequestOptions) (*serf.KeyResponse, error) {
		return k.InstallKeyWithOptions(key, o)
	})
}

// UseKey makes an installed base64 key every member's primary key.
func (p *Pool) UseKey(key string) (KeyringResponse, error) {
	return p.keyOp("use", key, func(k *serf.KeyManager, o *serf.KeyRequestOptions) (*serf.KeyResponse, error) {
		return k.UseKeyWithOptions(key, o)
	})
}

// RemoveKey removes a base64 key (not the primary one) from every member.
func (p *Pool) RemoveKey(key string) (KeyringResponse, error) {
	return p.keyOp("remove", key, func(k *serf.KeyManager, o *serf.KeyRequestOptions) (*serf.KeyResponse, error) {
		return k.RemoveKeyWithOptions(key, o)
	})
}

// keyOp checks key against the local keyring, runs one keyring query and
// copies its response.
func (p *Pool) keyOp(op, key string, f func(*serf.KeyManager, *serf.KeyRequestOptions) (*serf.KeyResponse, error)) (KeyringResponse, error) {
	s, err := p.Serf()
	if err != nil {
		return KeyringResponse{}, err
	}
	if !s.EncryptionEnabled() {
		return KeyringResponse{}, fmt.Errorf("%s key: %w", op, ErrNotEncrypted)
	}
	if op != "list" {
		if err := p.checkLocal(op, key); err != nil {
			return KeyringResponse{}, fmt.Errorf("%s key: %w", op, err)
		}
	}
	var r *serf.KeyResponse
	for attempt := 1; ; attempt++ {
		r, err = f(s.KeyManager(), &serf.KeyRequestOptions{RelayFactor: keyRelayFactor})
		missing := r != nil && r.NumErr == 0 && r.NumResp < r.NumNodes
		if err == nil || !missing {
			break
		}
		if attempt == keyAttempts {
			err = fmt.Errorf("%w: %d of %d answered", ErrIncomplete, r.NumResp, r.NumNodes)
			break
		}
		p.logger.Warn("keyring query: members missing, asking again", "op", op, "answered", r.NumResp, "members", r.NumNodes)
	}
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

// checkLocal refuses, before any query, a key that is malformed, a use
// of a key this member does not hold, and a removal of its primary key.
func (p *Pool) checkLocal(op, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	p.mu.Lock()
	kr := p.keyring
	p.mu.Unlock()
	if kr == nil {
		return nil
	}
	raw, _ := base64.StdEncoding.DecodeString(key)
	switch op {
	case "use":
		for _, k := range kr.GetKeys() {
			if string(k) == string(raw) {
				return nil
			}
		}
		return ErrKeyNotInstalled
	case "remove":
		if string(kr.GetPrimaryKey()) == string(raw) {
			return ErrPrimaryKey
		}
	}
	return nil
}

// loadKeyring builds the pool's keyring: the keyring file's keys when it
// exists (its first key is the primary), else EncryptKey alone; nil when
// the pool gossips in clear.
func (p *Pool) loadKeyring() (*memberlist.Keyring, error) {
	if p.cfg.KeyringFile != "" {
		b, err := os.ReadFile(p.cfg.KeyringFile)
		switch {
		case err == nil:
			return p.parseKeyringFile(b)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("keyring file: %w", err)
		}
	}
	if len(p.cfg.EncryptKey) == 0 {
		return nil, nil
	}
	return memberlist.NewKeyring(nil, p.cfg.EncryptKey)
}

// parseKeyringFile reads serf's keyring file: a JSON list of base64 keys.
func (p *Pool) parseKeyringFile(b []byte) (*memberlist.Keyring, error) {
	var encoded []string
	if err := json.Unmarshal(b, &encoded); err != nil {
		return nil, fmt.Errorf("keyring file %s: %w", p.cfg.KeyringFile, err)
	}
	if len(encoded) == 0 {
		return nil, fmt.Errorf("keyring file %s holds no key", p.cfg.KeyringFile)
	}
	keys := make([][]byte, 0, len(encoded))
	for _, e := range encoded {
		if err := CheckKey(e); err != nil {
			return nil, fmt.Errorf("keyring file %s: %w", p.cfg.KeyringFile, err)
		}
		raw, _ := base64.StdEncoding.DecodeString(e)
		keys = append(keys, raw)
	}
	if len(p.cfg.EncryptKey) > 0 && !slices.ContainsFunc(keys, func(k []byte) bool { return string(k) == string(p.cfg.EncryptKey) }) {
		p.logger.Warn("the encrypt key is not in the keyring file; the keyring file wins", "file", p.cfg.KeyringFile)
	}
	return memberlist.NewKeyring(keys, keys[0])
}
