package chaos

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// Op names a KV operation of the model.
type Op string

// The operations of the KV model. The txn ones act on both keys of a
// group in one /v1/txn: an atomic read (get-tree), an atomic write of both
// (two sets), and a write of both conditional on the first key's index
// (check-index, set, set).
const (
	OpGet    Op = "get"
	OpPut    Op = "put"
	OpCAS    Op = "cas"
	OpDelete Op = "delete"
	OpTxnGet Op = "txn-get"
	OpTxnPut Op = "txn-put"
	OpTxnCAS Op = "txn-cas"
)

// groupSize is how many keys a group has: single-key operations act on
// one of them, txn operations on all of them.
const groupSize = 2

// Input is what a client asked. Group names the keys' group (the unit
// the history is partitioned by) and Slot the key within it for
// single-key operations. For a CAS, Expect is the value the client read
// of the key (of slot 0 for a txn-cas): every written value is unique, so
// a value names exactly one ModifyIndex. ExpectAbsent asks for create-only
// (cas=0). Values holds what a txn-put or txn-cas writes, one per slot.
type Input struct {
	Op           Op
	Group        string
	Slot         int
	Value        string
	Values       [groupSize]string
	Expect       string
	ExpectAbsent bool
}

// KeyValue is one key as read: absent, or present with a value.
type KeyValue struct {
	Exists bool
	Value  string
}

// Output is what the client saw. Unknown marks an indeterminate outcome
// (a timeout or an error after the request may have been applied): the
// operation may or may not have taken effect. Read is what a get saw;
// Both what a txn-get saw.
type Output struct {
	Read    KeyValue
	Both    [groupSize]KeyValue
	OK      bool
	Unknown bool
}

// groupState is the model's state of one group of keys.
type groupState [groupSize]KeyValue

// KVModel is the sequential specification of one group of keys of the KV
// and txn APIs. Histories are partitioned by group, which keeps checking
// fast.
var KVModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byGroup := map[string][]porcupine.Operation{}
		var groups []string
		for _, op := range history {
			g := op.Input.(Input).Group
			if _, ok := byGroup[g]; !ok {
				groups = append(groups, g)
			}
			byGroup[g] = append(byGroup[g], op)
		}
		out := make([][]porcupine.Operation, 0, len(groups))
		for _, g := range groups {
			out = append(out, byGroup[g])
		}
		return out
	},
	Init: func() []any { return []any{groupState{}} },
	Step: func(state, input, output any) []any {
		return step(state.(groupState), input.(Input), output.(Output))
	},
	Equal: func(a, b any) bool { return a.(groupState) == b.(groupState) },
	DescribeOperation: func(input, output any) string {
		in, out := input.(Input), output.(Output)
		res := fmt.Sprintf("ok=%v", out.OK)
		switch {
		case out.Unknown:
			res = "unknown"
		case in.Op == OpGet:
			res = describe(out.Read)
		case in.Op == OpTxnGet:
			res = describe(out.Both[0]) + "," + describe(out.Both[1])
		}
		switch in.Op {
		case OpTxnPut, OpTxnCAS, OpTxnGet:
			return fmt.Sprintf("%s(%s %v %s) -> %s", in.Op, in.Group, in.Values, in.Expect, res)
		}
		return fmt.Sprintf("%s(%s/%d %s %s) -> %s", in.Op, in.Group, in.Slot, in.Value, in.Expect, res)
	},
}

func describe(kv KeyValue) string {
	if !kv.Exists {
		return "absent"
	}
	return kv.Value
}

// step returns the states the group may be in after the operation, none
// if the operation's output is impossible in state s.
func step(s groupState, in Input, out Output) []any {
	// outcome returns the states after a write that succeeds with next when
	// its condition holds: an unknown outcome allows both, a known one must
	// agree with the condition.
	outcome := func(matches bool, next groupState) []any {
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
	cur := s[in.Slot]
	next := s
	switch in.Op {
	case OpGet:
		if out.Read == cur {
			return []any{s}
		}
		return nil
	case OpTxnGet:
		if out.Both == s {
			return []any{s}
		}
		return nil
	case OpPut:
		next[in.Slot] = KeyValue{Exists: true, Value: in.Value}
		return outcome(true, next)
	case OpDelete:
		next[in.Slot] = KeyValue{}
		return outcome(true, next)
	case OpCAS:
		next[in.Slot] = KeyValue{Exists: true, Value: in.Value}
		return outcome(casMatches(cur, in), next)
	case OpTxnPut, OpTxnCAS:
		for i, v := range in.Values {
			next[i] = KeyValue{Exists: true, Value: v}
		}
		return outcome(in.Op == OpTxnPut || casMatches(s[0], in), next)
	}
	return nil
}

// casMatches reports whether a CAS expecting what in says succeeds on a
// key in state cur.
func casMatches(cur KeyValue, in Input) bool {
	if in.ExpectAbsent {
		return !cur.Exists
	}
	return cur.Exists && cur.Value == in.Expect
}
