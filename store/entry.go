package store

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

// ErrStopped means the store met a committed log entry it cannot interpret
// (a command type this version does not know and its writer did not mark
// ignorable, or bytes that do not decode) and applies nothing from it on.
// Skipping such an entry would let this server's state silently diverge
// from that of servers that understood it, so the server must stop; an
// operator upgrades it and restarts it, and it replays from its log.
var ErrStopped = errors.New("store stopped applying the log")

// stop records the first entry the store could not interpret. Every later
// apply is refused with the same error.
func (s *Store) stop(err error) {
	s.stopped.CompareAndSwap(nil, &err)
}

// Stopped returns the error that made the store stop applying the log, or
// nil while it applies normally.
func (s *Store) Stopped() error {
	if p := s.stopped.Load(); p != nil {
		return *p
	}
	return nil
}

// decodeEntry decodes one log entry and decides whether this version can
// apply it. skip reports a command of an unknown type that its writer
// marked ignorable (nothing to apply); err, wrapping ErrStopped, an entry
// that must not be skipped.
func decodeEntry(e Entry) (cmd *pb.Command, skip bool, err error) {
	cmd = &pb.Command{}
	if err := proto.Unmarshal(e.Data, cmd); err != nil {
		return nil, false, fmt.Errorf("%w: log entry %d does not decode: %v", ErrStopped, e.Index, err)
	}
	known, err := checkKnown(e.Index, cmd)
	if err != nil {
		return nil, false, err
	}
	return cmd, !known, nil
}

// checkKnown reports whether cmd is of a type this version applies. An
// unknown type is skipped (false, nil) only when marked ignore_if_unknown.
// A batch is known when each of its commands is known or ignorable.
func checkKnown(index uint64, cmd *pb.Command) (bool, error) {
	if b, ok := cmd.Cmd.(*pb.Command_Batch); ok {
		for _, sub := range b.Batch.GetCommands() {
			if _, err := checkKnown(index, sub); err != nil {
				return false, err
			}
		}
		return true, nil
	}
	if cmd.Cmd != nil {
		return true, nil
	}
	if cmd.IgnoreIfUnknown {
		return false, nil
	}
	typ := unknownType(cmd)
	if typ == 0 {
		return false, fmt.Errorf("%w: log entry %d holds an empty command", ErrStopped, index)
	}
	return false, fmt.Errorf("%w: log entry %d has command type %d, which this version does not know "+
		"(written by a newer version?); upgrade this server", ErrStopped, index, typ)
}

// unknownType returns the field number of the first unknown field of msg:
// the type of a command or record added by a later version.
func unknownType(msg proto.Message) protowire.Number {
	b := msg.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, _, n := protowire.ConsumeField(b)
		if n < 0 {
			return 0
		}
		return num
	}
	return 0
}
