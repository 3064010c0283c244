package main

import (
	"fmt"

	"github.com/hashicorp/consul/api"
)

const kvDeleteHelp = `Usage: meridian kv delete [options] KEY_OR_PREFIX

  Removes KEY from the key-value store. Deleting a key that does not exist
  is not an error.

      $ meridian kv delete foo

  -recurse deletes every key that starts with the prefix ("foo", "food" and
  "foo/bar/zip" for "foo"); -cas -modify-index=N deletes only if the key's
  ModifyIndex is still N.`

type kvDeleteOptions struct {
	http        httpFlags
	recurse     bool
	cas         bool
	modifyIndex uint64
}

func runKVDelete(e *cmdEnv, args []string) int {
	var o kvDeleteOptions
	fs := e.newFlagSet("kv delete")
	o.http.register(fs, false)
	fs.BoolVar(&o.recurse, "recurse", false, "Delete every key with the given prefix.")
	fs.BoolVar(&o.cas, "cas", false, "Perform a Check-And-Set delete. Requires -modify-index.")
	fs.Uint64Var(&o.modifyIndex, "modify-index", 0, "ModifyIndex the key must have for -cas.")
	if code, ok := e.parse(fs, kvDeleteHelp, args); !ok {
		return code
	}
	var key string
	switch fs.NArg() {
	case 0:
	case 1:
		key = trimKeySlash(fs.Arg(0))
	default:
		return e.usageError("kv delete", "Error! Too many arguments (expected 1, got %d)", fs.NArg())
	}
	switch {
	case key == "" && !o.recurse:
		return e.usageError("kv delete", "Error! Missing KEY argument")
	case o.recurse && o.cas:
		return e.usageError("kv delete", "Error! Cannot specify both -cas and -recurse")
	case o.cas && o.modifyIndex == 0:
		return e.usageError("kv delete", "Error! Cannot delete a key that does not exist. Provide a -modify-index greater than 0")
	case !o.cas && flagWasSet(fs, "modify-index"):
		return e.usageError("kv delete", "Error! Cannot specify -modify-index without -cas")
	}
	client, err := o.http.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	kv, w := client.KV(), client.write(e.ctx)
	switch {
	case o.recurse:
		if _, err := kv.DeleteTree(key, w); err != nil {
			return e.fail(exitError, "Error! Did not delete prefix %s: %v", key, err)
		}
		fmt.Fprintf(e.stdout, "Success! Deleted keys with prefix: %s\n", key)
	case o.cas:
		ok, _, err := kv.DeleteCAS(&api.KVPair{Key: key, ModifyIndex: o.modifyIndex}, w)
		if err != nil {
			return e.fail(exitError, "Error! Did not delete key %s: %v", key, err)
		}
		if !ok {
			return e.fail(exitError, "Error! Did not delete key %s: CAS failed", key)
		}
		fmt.Fprintf(e.stdout, "Success! Deleted key: %s\n", key)
	default:
		if _, err := kv.Delete(key, w); err != nil {
			return e.fail(exitError, "Error deleting key %s: %v", key, err)
		}
		fmt.Fprintf(e.stdout, "Success! Deleted key: %s\n", key)
	}
	return exitOK
}
