package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/consul/api"
)

const kvPutHelp = `Usage: meridian kv put [options] KEY [DATA]

  Writes DATA to KEY in the key-value store. DATA may be given inline, read
  from a file with "@file", or from stdin with "-"; without DATA the key is
  created empty.

      $ meridian kv put config/redis/maxconns 5
      $ meridian kv put config/program/license @license.lic
      $ echo "abcd1234" | meridian kv put config/program/license -

  -cas -modify-index=N writes only if the key's ModifyIndex is still N
  (N=0: only if the key does not exist). -acquire and -release take or give
  up a lock on the key for -session.`

type kvPutOptions struct {
	http        httpFlags
	flags       uint64
	cas         bool
	modifyIndex uint64
	acquire     bool
	release     bool
	session     string
	base64      bool
}

func runKVPut(e *cmdEnv, args []string) int {
	var o kvPutOptions
	fs := e.newFlagSet("kv put")
	o.http.register(fs, false)
	fs.Uint64Var(&o.flags, "flags", 0, "Unsigned integer stored with the key; opaque to Meridian.")
	fs.BoolVar(&o.cas, "cas", false, "Perform a Check-And-Set write. Requires -modify-index.")
	fs.Uint64Var(&o.modifyIndex, "modify-index", 0, "ModifyIndex the key must have for -cas (0: key must not exist).")
	fs.BoolVar(&o.acquire, "acquire", false, "Obtain a lock on the key for -session, creating the key if needed.")
	fs.BoolVar(&o.release, "release", false, "Give up the lock -session holds on the key.")
	fs.StringVar(&o.session, "session", "", "Session ID used by -acquire and -release.")
	fs.BoolVar(&o.base64, "base64", false, "DATA is base64-encoded; decode it before writing.")
	if code, ok := e.parse(fs, kvPutHelp, args); !ok {
		return code
	}
	if msg := o.validate(fs.Arg(0), fs.NArg(), flagWasSet(fs, "modify-index")); msg != "" {
		return e.usageError("kv put", "Error! %s", msg)
	}
	key := fs.Arg(0)
	if strings.HasPrefix(key, "/") {
		return e.usageError("kv put", "Error! Invalid key. Key must not begin with a '/': %s", key)
	}
	data, err := readDataArg(fs.Arg(1), fs.NArg() == 2, e.stdin)
	if err != nil {
		return e.fail(exitError, "Error! %v", err)
	}
	if o.base64 {
		if data, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(data))); err != nil {
			return e.fail(exitError, "Error! Cannot base 64 decode data: %v", err)
		}
	}
	client, err := o.http.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()
	return e.kvWrite(client, key, data, o)
}

// validate checks the flag combination and returns what is wrong with it,
// or "" when it is usable.
func (o *kvPutOptions) validate(key string, nargs int, modifyIndexSet bool) string {
	lock := o.acquire || o.release
	switch {
	case nargs == 0 || key == "":
		return "Missing KEY argument"
	case nargs > 2:
		return fmt.Sprintf("Too many arguments (expected 1 or 2, got %d)", nargs)
	case o.acquire && o.release:
		return "Cannot specify both -acquire and -release"
	case lock && o.session == "":
		return "Missing -session (required with -acquire and -release)"
	case !lock && o.session != "":
		return "-session is only used with -acquire or -release"
	case o.cas && lock:
		return "Cannot combine -cas with -acquire or -release"
	case o.cas && !modifyIndexSet:
		return "Must specify -modify-index with -cas"
	case !o.cas && modifyIndexSet:
		return "Cannot specify -modify-index without -cas"
	}
	return ""
}

// kvWrite sends the PUT o describes and reports the outcome in Consul's
// words.
func (e *cmdEnv) kvWrite(client *agentClient, key string, data []byte, o kvPutOptions) int {
	pair := &api.KVPair{Key: key, Flags: o.flags, Value: data, ModifyIndex: o.modifyIndex, Session: o.session}
	kv, w := client.KV(), client.write(e.ctx)
	ok, err := true, error(nil)
	switch {
	case o.cas:
		ok, _, err = kv.CAS(pair, w)
	case o.acquire:
		ok, _, err = kv.Acquire(pair, w)
	case o.release:
		ok, _, err = kv.Release(pair, w)
	default:
		_, err = kv.Put(pair, w)
	}
	switch {
	case o.cas && err != nil:
		return e.fail(exitError, "Error! Did not write to %s: %v", key, err)
	case o.cas && !ok:
		return e.fail(exitError, "Error! Did not write to %s: CAS failed", key)
	case err != nil:
		return e.fail(exitError, "Error! Failed writing data: %v", err)
	case o.acquire && !ok:
		return e.fail(exitError, "Error! Did not acquire lock")
	case o.acquire:
		fmt.Fprintf(e.stdout, "Success! Lock acquired on: %s\n", key)
	case o.release && !ok:
		return e.fail(exitError, "Error! Did not release lock")
	case o.release:
		fmt.Fprintf(e.stdout, "Success! Lock released on: %s\n", key)
	default:
		fmt.Fprintf(e.stdout, "Success! Data written to: %s\n", key)
	}
	return exitOK
}

// readDataArg resolves a DATA argument: "@path" reads a file, "-" reads
// stdin, anything else is the data itself. A missing argument is empty data.
func readDataArg(arg string, given bool, stdin io.Reader) ([]byte, error) {
	switch {
	case !given || arg == "":
		return []byte{}, nil
	case arg[0] == '@':
		b, err := os.ReadFile(arg[1:])
		if err != nil {
			return nil, fmt.Errorf("failed to read file: %w", err)
		}
		return b, nil
	case arg == "-":
		if stdin == nil {
			return []byte{}, nil
		}
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("failed to read stdin: %w", err)
		}
		return b, nil
	default:
		return []byte(arg), nil
	}
}
