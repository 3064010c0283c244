package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"sort"

	"github.com/hashicorp/consul/api"
)

const keygenHelp = `Usage: meridian keygen

  Generates a new gossip encryption key: 32 random bytes, base64-encoded,
  for the agent's -encrypt flag or "encrypt" setting, or for
  "meridian keyring -install".`

func runKeygen(e *cmdEnv, args []string) int {
	fs := e.newFlagSet("keygen")
	if code, ok := e.parse(fs, keygenHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("keygen", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return e.fail(exitError, "Error reading random data: %v", err)
	}
	fmt.Fprintln(e.stdout, base64.StdEncoding.EncodeToString(key))
	return exitOK
}

const keyringHelp = `Usage: meridian keyring [options]

  Manages the gossip encryption keys of the agent's pools: the WAN pool of
  the servers and the LAN pool of the datacenter. Exactly one of -list,
  -install, -use and -remove. Each operation reaches every member of each
  pool the agent belongs to (a server: WAN and LAN; a client agent: LAN).

  Rotation: -install NEW, then -use NEW, then -remove OLD.`

func runKeyring(e *cmdEnv, args []string) int {
	var h httpFlags
	var list bool
	var install, use, remove string
	fs := e.newFlagSet("keyring")
	h.register(fs, true)
	fs.BoolVar(&list, "list", false, "List the keys installed in each pool, with how many members hold each.")
	fs.StringVar(&install, "install", "", "Install a new key (base64) in every member's keyring, for decryption.")
	fs.StringVar(&use, "use", "", "Make an installed key the primary key every member encrypts with.")
	fs.StringVar(&remove, "remove", "", "Remove a key (not the primary one) from every member's keyring.")
	if code, ok := e.parse(fs, keyringHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("keyring", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	n := 0
	for _, set := range []bool{list, install != "", use != "", remove != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return e.usageError("keyring", "Exactly one of -list, -install, -use or -remove is required")
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	op := client.Operator()
	switch {
	case list:
		fmt.Fprintln(e.stdout, "==> Gathering installed encryption keys...")
		pools, err := op.KeyringList(client.read(e.ctx))
		if err != nil {
			return e.fail(exitError, "Error listing keys: %v", err)
		}
		writeKeyring(e.stdout, pools)
	case install != "":
		fmt.Fprintln(e.stdout, "==> Installing new gossip encryption key...")
		if err := op.KeyringInstall(install, client.write(e.ctx)); err != nil {
			return e.fail(exitError, "Error installing key: %v", err)
		}
	case use != "":
		fmt.Fprintln(e.stdout, "==> Changing primary gossip encryption key...")
		if err := op.KeyringUse(use, client.write(e.ctx)); err != nil {
			return e.fail(exitError, "Error changing primary key: %v", err)
		}
	default:
		fmt.Fprintln(e.stdout, "==> Removing gossip encryption key...")
		if err := op.KeyringRemove(remove, client.write(e.ctx)); err != nil {
			return e.fail(exitError, "Error removing key: %v", err)
		}
	}
	return exitOK
}

// writeKeyring prints each pool's keys as Consul does: the key and
// [members holding it/members].
func writeKeyring(w io.Writer, pools []*api.KeyringResponse) {
	for _, p := range pools {
		if p.WAN {
			fmt.Fprintf(w, "\nWAN:\n")
		} else {
			fmt.Fprintf(w, "\n%s (LAN):\n", p.Datacenter)
		}
		keys := make([]string, 0, len(p.Keys))
		for k := range p.Keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			primary := ""
			if p.PrimaryKeys[k] > 0 {
				primary = fmt.Sprintf(" (primary on %d)", p.PrimaryKeys[k])
			}
			fmt.Fprintf(w, "  %s [%d/%d]%s\n", k, p.Keys[k], p.NumNodes, primary)
		}
	}
}
