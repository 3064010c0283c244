package config

import (
	"errors"
)

// Errors returned by Load and Reload. Each returned error matches one of
// them with errors.Is; flag.ErrHelp is returned for -h/-help.
var (
	// ErrInvalid marks a configuration that cannot be used: a syntax
	// error, a value of the wrong type, a bad flag, or a value that fails
	// validation.
	ErrInvalid = errors.New("invalid configuration")
	// ErrUnknownKey marks a config file key that neither Meridian nor
	// Consul knows (usually a typo).
	ErrUnknownKey = errors.New("unknown configuration key")
	// ErrNotLoaded is returned by Reload for a Config that Load did not
	// produce.
	ErrNotLoaded = errors.New("config was not produced by Load")
)

// kindError gives an error a sentinel kind without changing its message.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// invalid marks err as ErrInvalid unless it already carries a kind.
func invalid(err error) error {
	if err == nil || errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnknownKey) {
		return err
	}
	return &kindError{kind: ErrInvalid, err: err}
}

// invalidf formats a one-line ErrInvalid error.
func invalidf(format string, args ...any) error {
	return invalid(errorf(format, args...))
}
