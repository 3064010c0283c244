package chaos

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// Op names a KV operation of the model.
type Op string

// The operations of the KV model.
const (
	OpGet    Op = "get"
	OpPut    Op = "put"
	OpCAS    Op = "cas"
	OpDelete Op = "delete"
)

// Input is what a client asked. For a CAS, Expect is the value the client
// read (every written value is unique, so a value names exactly one
// ModifyIndex), and ExpectAbsent asks for create-only (cas=0).
type Input struct {
	Op           Op
	Key          string
	Value        string
	Expect       string
	ExpectAbsent bool
}

// Output is what the client saw. Unknown marks an indeterminate outcome
// (a timeout or an error after the request may have been applied): the
// operation may or may not have taken effect.
type Output struct {
	Exists  bool
	Value   string
	OK      bool
	Unknown bool
}

// keyState is the model's state of one key.
type keyState struct {
	exists bool
	value  string
}

// KVModel is the sequential specification of one key of the KV API.
// Histories are partitioned by key, which keeps checking fast.
var KVModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(Input).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{keyState{}} },
	Step: func(state, input, output any) []any {
		s := state.(keyState)
		in := input.(Input)
		out := output.(Output)
		switch in.Op {
		case OpGet:
			if out.Exists == s.exists && (!s.exists || out.Value == s.value) {
				return []any{s}
			}
			return nil
		case OpPut:
			next := keyState{exists: true, value: in.Value}
			if out.Unknown {
				return []any{next, s}
			}
			return []any{next}
		case OpDelete:
			if out.Unknown {
				return []any{keyState{}, s}
			}
			return []any{keyState{}}
		case OpCAS:
			matches := (in.ExpectAbsent && !s.exists) || (!in.ExpectAbsent && s.exists && s.value == in.Expect)
			next := keyState{exists: true, value: in.Value}
			switch {
			case out.Unknown && matches:
				return []any{next, s}
			case out.Unknown:
				return []any{s}
			case out.OK && matches:
				return []any{next}
			case !out.OK && !matches:
				return []any{s}
			}
			return nil
		}
		return nil
	},
	Equal: func(a, b any) bool { return a.(keyState) == b.(keyState) },
	DescribeOperation: func(input, output any) string {
		in, out := input.(Input), output.(Output)
		res := fmt.Sprintf("ok=%v", out.OK)
		switch {
		case out.Unknown:
			res = "unknown"
		case in.Op == OpGet && !out.Exists:
			res = "absent"
		case in.Op == OpGet:
			res = out.Value
		}
		return fmt.Sprintf("%s(%s %s %s) -> %s", in.Op, in.Key, in.Value, in.Expect, res)
	},
}
