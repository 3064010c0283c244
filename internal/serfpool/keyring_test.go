package serfpool

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckKey(t *testing.T) {
	for key, ok := range map[string]bool{
		base64.StdEncoding.EncodeToString(make([]byte, 16)): true,
		base64.StdEncoding.EncodeToString(make([]byte, 32)): true,
		base64.StdEncoding.EncodeToString(make([]byte, 20)): false,
		"not base64!": false,
		"":            false,
	} {
		if err := CheckKey(key); (err == nil) != ok || (err != nil && !errors.Is(err, ErrBadKey)) {
			t.Errorf("CheckKey(%q) = %v", key, err)
		}
	}
}

func TestLoadKeyring(t *testing.T) {
	k1, k2, cfgKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16), bytes.Repeat([]byte{3}, 32)
	enc := base64.StdEncoding.EncodeToString
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// The file wins over EncryptKey; its first key is the primary.
	good := write("good", `["`+enc(k1)+`","`+enc(k2)+`"]`)
	kr, err := New(Config{KeyringFile: good, EncryptKey: cfgKey}).loadKeyring()
	if err != nil || !bytes.Equal(kr.GetPrimaryKey(), k1) || len(kr.GetKeys()) != 2 {
		t.Fatalf("from file: %v, %v", kr, err)
	}
	// No file yet: EncryptKey alone.
	kr, err = New(Config{KeyringFile: filepath.Join(dir, "none"), EncryptKey: cfgKey}).loadKeyring()
	if err != nil || !bytes.Equal(kr.GetPrimaryKey(), cfgKey) || len(kr.GetKeys()) != 1 {
		t.Fatalf("no file: %v, %v", kr, err)
	}
	// Neither: gossip in clear.
	if kr, err := New(Config{KeyringFile: filepath.Join(dir, "none")}).loadKeyring(); kr != nil || err != nil {
		t.Fatalf("clear: %v, %v", kr, err)
	}
	for name, body := range map[string]string{
		"not json": `{`, "empty": `[]`, "bad key": `["` + enc(make([]byte, 5)) + `"]`,
	} {
		if _, err := New(Config{KeyringFile: write(name, body), EncryptKey: cfgKey}).loadKeyring(); err == nil {
			t.Errorf("%s keyring file accepted", name)
		}
	}
}
