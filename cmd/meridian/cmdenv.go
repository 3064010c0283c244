package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// cmdEnv is what every command runs with: its I/O streams, its environment
// and the context of its HTTP calls.
type cmdEnv struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// newFlagSet returns an empty flag set for the command path name
// ("kv get"). It prints nothing by itself: parse reports errors and help.
func (e *cmdEnv) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses args into fs. When ok is false the command must return code
// at once: -h printed help on stdout (code 0), or a bad flag printed a
// one-line error on stderr (code 2).
func (e *cmdEnv) parse(fs *flag.FlagSet, help string, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	if err == nil {
		return exitOK, true
	}
	if errors.Is(err, flag.ErrHelp) {
		e.writeHelp(fs, help)
		return exitOK, false
	}
	return e.usageError(fs.Name(), "%v", err), false
}

// writeHelp prints the command's help text and its flags on stdout.
func (e *cmdEnv) writeHelp(fs *flag.FlagSet, help string) {
	fmt.Fprintln(e.stdout, strings.TrimSpace(help))
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if !hasFlags {
		return
	}
	fmt.Fprintln(e.stdout, "\nOptions:")
	fs.SetOutput(e.stdout)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// usageError prints a one-line usage error naming the command and returns
// exitUsage.
func (e *cmdEnv) usageError(name, format string, args ...any) int {
	msg := oneLine(fmt.Sprintf(format, args...))
	fmt.Fprintf(e.stderr, "%s (see 'meridian %s -h')\n", msg, name)
	return exitUsage
}

// fail prints msg as one line on stderr and returns code.
func (e *cmdEnv) fail(code int, format string, args ...any) int {
	fmt.Fprintln(e.stderr, oneLine(fmt.Sprintf(format, args...)))
	return code
}

// oneLine folds a message onto one line so every error is exactly one line
// of stderr, whatever the server sent.
func oneLine(s string) string {
	return strings.TrimSpace(lineBreaks.Replace(s))
}

var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// flagWasSet reports whether the flag name appeared on the command line.
func flagWasSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
