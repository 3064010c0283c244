package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/consul/api"
)

func kvCommands() map[string]cliCommand {
	return map[string]cliCommand{
		"delete": {"Removes data from the KV store", runKVDelete},
		"export": {"Exports a tree from the KV store as JSON", runKVExport},
		"get":    {"Retrieves or lists data from the KV store", runKVGet},
		"import": {"Imports a tree stored as JSON to the KV store", runKVImport},
		"put":    {"Sets or updates data in the KV store", runKVPut},
	}
}

func runKV(e *cmdEnv, args []string) int {
	return e.dispatch("meridian kv", kvCommands(), args)
}

// trimKeySlash drops one leading "/": keys never start with one, but
// people type "/foo" (Consul's CLI does the same for get, delete and export).
func trimKeySlash(key string) string { return strings.TrimPrefix(key, "/") }

const kvGetHelp = `Usage: meridian kv get [options] [KEY_OR_PREFIX]

  Retrieves the value stored at KEY. If no key exists with that name, an
  error is returned; a key that exists with no data prints nothing.

      $ meridian kv get redis/config/connections

  -detailed prints the key's metadata (indexes, flags, session) with it.
  -recurse lists every key with the given prefix as key:value lines, and
  -keys lists only the key names, folded at -separator:

      $ meridian kv get -recurse redis/
      $ meridian kv get -keys -separator=/ redis/`

type kvGetOptions struct {
	http      httpFlags
	recurse   bool
	keys      bool
	separator string
	detailed  bool
	base64    bool
}

func runKVGet(e *cmdEnv, args []string) int {
	var o kvGetOptions
	fs := e.newFlagSet("kv get")
	o.http.register(fs, true)
	fs.BoolVar(&o.recurse, "recurse", false, "Recursively look at all keys prefixed with the given path.")
	fs.BoolVar(&o.keys, "keys", false, "List keys which start with the given prefix, but not their values.")
	fs.StringVar(&o.separator, "separator", "/", "Separator at which -keys folds key names. Only used with -keys.")
	fs.BoolVar(&o.detailed, "detailed", false, "Print the key's metadata (CreateIndex, Flags, LockIndex, ModifyIndex, Session) with its value.")
	fs.BoolVar(&o.base64, "base64", false, "Base64-encode the printed value.")
	if code, ok := e.parse(fs, kvGetHelp, args); !ok {
		return code
	}
	var key string
	switch fs.NArg() {
	case 0:
	case 1:
		key = trimKeySlash(fs.Arg(0))
	default:
		return e.usageError("kv get", "Too many arguments (expected 1, got %d)", fs.NArg())
	}
	if key == "" && !o.recurse && !o.keys {
		return e.usageError("kv get", "Error! Missing KEY argument")
	}
	client, err := o.http.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	switch {
	case o.keys:
		return e.kvListKeys(client, key, o.separator)
	case o.recurse:
		return e.kvList(client, key, o)
	default:
		return e.kvGetOne(client, key, o)
	}
}

func (e *cmdEnv) kvListKeys(client *agentClient, prefix, separator string) int {
	keys, _, err := client.KV().Keys(prefix, separator, client.read(e.ctx))
	if err != nil {
		return e.fail(exitError, "Error querying agent: %v", err)
	}
	for _, k := range keys {
		fmt.Fprintln(e.stdout, k)
	}
	return exitOK
}

func (e *cmdEnv) kvList(client *agentClient, prefix string, o kvGetOptions) int {
	pairs, _, err := client.KV().List(prefix, client.read(e.ctx))
	if err != nil {
		return e.fail(exitError, "Error querying agent: %v", err)
	}
	var out bytes.Buffer
	for i, p := range pairs {
		switch {
		case o.detailed:
			writeKVDetailed(&out, p, o.base64)
			if i < len(pairs)-1 {
				out.WriteString("\n")
			}
		default:
			fmt.Fprintf(&out, "%s:%s\n", p.Key, kvValue(p.Value, o.base64))
		}
	}
	_, _ = e.stdout.Write(out.Bytes())
	return exitOK
}

func (e *cmdEnv) kvGetOne(client *agentClient, key string, o kvGetOptions) int {
	pair, _, err := client.KV().Get(key, client.read(e.ctx))
	if err != nil {
		return e.fail(exitError, "Error querying agent: %v", err)
	}
	if pair == nil {
		return e.fail(exitError, "Error! No key exists at: %s", key)
	}
	if o.detailed {
		writeKVDetailed(e.stdout, pair, o.base64)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "%s\n", kvValue(pair.Value, o.base64))
	return exitOK
}
func kvValue(v []byte, b64 bool) string {
	if b64 {
		return base64.StdEncoding.EncodeToString(v)
	}
	return string(v)
}

// writeKVDetailed prints p as Consul's `kv get -detailed` does: one aligned
// line per field, "-" for no session.
func writeKVDetailed(w io.Writer, p *api.KVPair, b64 bool) {
	tw := tabwriter.NewWriter(w, 0, 2, 6, ' ', 0)
	fmt.Fprintf(tw, "CreateIndex\t%d\n", p.CreateIndex)
	fmt.Fprintf(tw, "Flags\t%d\n", p.Flags)
	fmt.Fprintf(tw, "Key\t%s\n", p.Key)
	fmt.Fprintf(tw, "LockIndex\t%d\n", p.LockIndex)
	fmt.Fprintf(tw, "ModifyIndex\t%d\n", p.ModifyIndex)
	session := p.Session
	if session == "" {
		session = "-"
	}
	fmt.Fprintf(tw, "Session\t%s\n", session)
	fmt.Fprintf(tw, "Value\t%s\n", kvValue(p.Value, b64))
	_ = tw.Flush()
}
