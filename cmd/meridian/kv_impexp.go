package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/consul/api"
)

// kvExportEntry is one key of the `kv export` / `kv import` JSON format,
// shared with Consul so trees move between the two.
type kvExportEntry struct {
	Key   string `json:"key"`
	Flags uint64 `json:"flags"`
	Value string `json:"value"` // base64
}

const kvExportHelp = `Usage: meridian kv export [options] [PREFIX]

  Writes every key under PREFIX (the whole store without one) to stdout as
  JSON, in the format "meridian kv import" and "consul kv import" read.

      $ meridian kv export vault/ > vault.json`

func runKVExport(e *cmdEnv, args []string) int {
	var h httpFlags
	fs := e.newFlagSet("kv export")
	h.register(fs, true)
	if code, ok := e.parse(fs, kvExportHelp, args); !ok {
		return code
	}
	if fs.NArg() > 1 {
		return e.usageError("kv export", "Error! Too many arguments (expected 1, got %d)", fs.NArg())
	}
	prefix := trimKeySlash(fs.Arg(0))
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	pairs, _, err := client.KV().List(prefix, client.read(e.ctx))
	if err != nil {
		return e.fail(exitError, "Error querying agent: %v", err)
	}
	entries := make([]kvExportEntry, 0, len(pairs))
	for _, p := range pairs {
		entries = append(entries, kvExportEntry{
			Key:   p.Key,
			Flags: p.Flags,
			Value: base64.StdEncoding.EncodeToString(p.Value),
		})
	}
	out, err := json.MarshalIndent(entries, "", "\t")
	if err != nil {
		return e.fail(exitError, "Error exporting KV data: %v", err)
	}
	fmt.Fprintf(e.stdout, "%s\n", out)
	return exitOK
}

const kvImportHelp = `Usage: meridian kv import [options] DATA

  Writes the keys of a "kv export" JSON document to the key-value store.
  DATA is the JSON itself, "@file" to read a file, or "-" to read stdin.

      $ meridian kv import @vault.json
      $ meridian kv export vault/ | meridian kv import -http-addr=other:8500 -

  -prefix is prepended to every imported key.`

func runKVImport(e *cmdEnv, args []string) int {
	var h httpFlags
	var prefix string
	fs := e.newFlagSet("kv import")
	h.register(fs, false)
	fs.StringVar(&prefix, "prefix", "", "Key prefix for imported data (prepended as is). Empty: the root.")
	if code, ok := e.parse(fs, kvImportHelp, args); !ok {
		return code
	}
	switch {
	case fs.NArg() == 0:
		return e.usageError("kv import", "Error! Missing DATA argument")
	case fs.NArg() > 1:
		return e.usageError("kv import", "Error! Too many arguments (expected 1, got %d)", fs.NArg())
	case fs.Arg(0) == "":
		return e.usageError("kv import", "Error! Empty DATA argument")
	}
	data, err := readDataArg(fs.Arg(0), true, e.stdin)
	if err != nil {
		return e.fail(exitError, "Error! %v", err)
	}
	var entries []kvExportEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return e.fail(exitError, "Cannot unmarshal data: %v", err)
	}
	values := make([][]byte, len(entries))
	for i, entry := range entries {
		if values[i], err = base64.StdEncoding.DecodeString(entry.Value); err != nil {
			return e.fail(exitError, "Error base 64 decoding value for key %s: %v", entry.Key, err)
		}
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	for i, entry := range entries {
		key := prefix + entry.Key
		pair := &api.KVPair{Key: key, Flags: entry.Flags, Value: values[i]}
		if _, err := client.KV().Put(pair, client.write(e.ctx)); err != nil {
			return e.fail(exitError, "Error! Failed writing data for key %s: %v", key, err)
		}
		fmt.Fprintf(e.stdout, "Imported: %s\n", key)
	}
	return exitOK
}
