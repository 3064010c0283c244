package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/meridian-io/meridian/snapshot"
)

func snapshotCommands() map[string]cliCommand {
	return map[string]cliCommand{
		"save":    {"Saves a snapshot of the datacenter's state to a file", runSnapshotSave},
		"restore": {"Restores the datacenter's state from a snapshot file", runSnapshotRestore},
		"inspect": {"Displays information about a snapshot file", runSnapshotInspect},
	}
}

func runSnapshot(e *cmdEnv, args []string) int {
	return e.dispatch("meridian snapshot", snapshotCommands(), args)
}

const snapshotSaveHelp = `Usage: meridian snapshot save [options] FILE

  Saves an atomic snapshot of the datacenter's state (KV, catalog,
  sessions, ...) to FILE, a gzipped tar archive with its SHA-256 sums. The
  archive is verified before FILE is written. Any agent takes the request
  (a client agent hands it to a server; -datacenter names another
  datacenter); -stale lets a follower answer with what it has.`

func runSnapshotSave(e *cmdEnv, args []string) int {
	var h httpFlags
	fs := e.newFlagSet("snapshot save")
	h.register(fs, true)
	if code, ok := e.parse(fs, snapshotSaveHelp, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return e.usageError("snapshot save", "Expected one argument, the file to write (got %d)", fs.NArg())
	}
	path := fs.Arg(0)
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	body, _, err := client.Snapshot().Save(client.read(e.ctx))
	if err != nil {
		return e.fail(exitError, "Error saving snapshot: %v", err)
	}
	defer body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.part")
	if err != nil {
		return e.fail(exitError, "Error saving snapshot: %v", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := io.Copy(tmp, body); err != nil {
		return e.fail(exitError, "Error saving snapshot: %v", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return e.fail(exitError, "Error verifying snapshot: %v", err)
	}
	meta, err := snapshot.Read(tmp, io.Discard)
	if err != nil {
		return e.fail(exitError, "Error verifying snapshot: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return e.fail(exitError, "Error saving snapshot: %v", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return e.fail(exitError, "Error saving snapshot: %v", err)
	}
	fmt.Fprintf(e.stdout, "Saved and verified snapshot to index %d\n", meta.Index)
	return exitOK
}

const snapshotRestoreHelp = `Usage: meridian snapshot restore [options] FILE

  Replaces the datacenter's whole state with the snapshot in FILE. Any
  agent takes the request and hands the archive to the leader, which
  verifies it first: a damaged one is refused and nothing changes.
  Blocking queries return and see the restored state.`

func runSnapshotRestore(e *cmdEnv, args []string) int {
	var h httpFlags
	fs := e.newFlagSet("snapshot restore")
	h.register(fs, false)
	if code, ok := e.parse(fs, snapshotRestoreHelp, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return e.usageError("snapshot restore", "Expected one argument, the snapshot file (got %d)", fs.NArg())
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return e.fail(exitError, "Error opening snapshot file: %v", err)
	}
	defer f.Close()
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()
	if err := client.Snapshot().Restore(client.write(e.ctx), f); err != nil {
		return e.fail(exitError, "Error restoring snapshot: %v", err)
	}
	fmt.Fprintln(e.stdout, "Restored snapshot")
	return exitOK
}

const snapshotInspectHelp = `Usage: meridian snapshot inspect FILE

  Verifies the snapshot archive in FILE and prints its metadata.`

func runSnapshotInspect(e *cmdEnv, args []string) int {
	fs := e.newFlagSet("snapshot inspect")
	if code, ok := e.parse(fs, snapshotInspectHelp, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return e.usageError("snapshot inspect", "Expected one argument, the snapshot file (got %d)", fs.NArg())
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return e.fail(exitError, "Error opening snapshot file: %v", err)
	}
	defer f.Close()
	meta, err := snapshot.Read(f, io.Discard)
	if err != nil {
		return e.fail(exitError, "Error inspecting snapshot: %v", err)
	}
	t := newTextTable(e.stdout, 1)
	t.row("ID", meta.ID)
	t.row("Size", fmt.Sprint(meta.Size))
	t.row("Index", fmt.Sprint(meta.Index))
	t.row("Term", fmt.Sprint(meta.Term))
	t.row("Version", fmt.Sprint(meta.Version))
	t.row("Servers", fmt.Sprint(len(meta.Configuration.Servers)))
	t.flush()
	return exitOK
}
