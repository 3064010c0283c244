package chaos

import (
	"slices"
	"testing"

	"github.com/anishathalye/porcupine"
)

func op(client int, call, ret int64, in Input, out Output) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

func kv(v string) KeyValue { return KeyValue{Exists: true, Value: v} }

func TestModelAcceptsAndRejects(t *testing.T) {
	model := KVModel.ToModel()
	cases := []struct {
		name string
		ok   bool
		ops  []porcupine.Operation
	}{
		{"sequential put get", true, []porcupine.Operation{
			op(0, 0, 1, Input{Op: OpPut, Group: "g", Value: "a"}, Output{OK: true}),
			op(1, 2, 3, Input{Op: OpGet, Group: "g"}, Output{Read: kv("a")}),
		}},
		{"stale read after acknowledged put", false, []porcupine.Operation{
			op(0, 0, 1, Input{Op: OpPut, Group: "g", Value: "a"}, Output{OK: true}),
			op(1, 2, 3, Input{Op: OpGet, Group: "g"}, Output{}),
		}},
		{"concurrent read may see either", true, []porcupine.Operation{
			op(0, 0, 10, Input{Op: OpPut, Group: "g", Value: "a"}, Output{OK: true}),
			op(1, 2, 3, Input{Op: OpGet, Group: "g"}, Output{}),
			op(2, 4, 5, Input{Op: OpGet, Group: "g"}, Output{Read: kv("a")}),
		}},
		{"reads go backwards", false, []porcupine.Operation{
			op(0, 0, 10, Input{Op: OpPut, Group: "g", Value: "a"}, Output{OK: true}),
			op(1, 2, 3, Input{Op: OpGet, Group: "g"}, Output{Read: kv("a")}),
			op(2, 4, 5, Input{Op: OpGet, Group: "g"}, Output{}),
		}},
		{"unknown put may have happened", true, []porcupine.Operation{
			op(0, 0, 100, Input{Op: OpPut, Group: "g", Value: "a"}, Output{Unknown: true}),
			op(1, 2, 3, Input{Op: OpGet, Group: "g"}, Output{Read: kv("a")}),
		}},
		{"unknown put may not have happened", true, []porcupine.Operation{
			op(0, 0, 100, Input{Op: OpPut, Group: "g", Value: "a"}, Output{Unknown: true}),
			op(1, 2, 3, Input{Op: OpGet, Group: "g"}, Output{}),
		}},
		{"cas on the right value", true, []porcupine.Operation{
			op(0, 0, 1, Input{Op: OpCAS, Group: "g", Value: "a", ExpectAbsent: true}, Output{OK: true}),
			op(0, 2, 3, Input{Op: OpCAS, Group: "g", Value: "b", Expect: "a"}, Output{OK: true}),
			op(0, 4, 5, Input{Op: OpCAS, Group: "g", Value: "c", Expect: "a"}, Output{OK: false}),
			op(1, 6, 7, Input{Op: OpGet, Group: "g"}, Output{Read: kv("b")}),
		}},
		{"two winners of one cas", false, []porcupine.Operation{
			op(0, 0, 1, Input{Op: OpPut, Group: "g", Value: "a"}, Output{OK: true}),
			op(1, 2, 5, Input{Op: OpCAS, Group: "g", Value: "b", Expect: "a"}, Output{OK: true}),
			op(2, 2, 5, Input{Op: OpCAS, Group: "g", Value: "c", Expect: "a"}, Output{OK: true}),
		}},
		{"delete then absent", true, []porcupine.Operation{
			op(0, 0, 1, Input{Op: OpPut, Group: "g", Value: "a"}, Output{OK: true}),
			op(0, 2, 3, Input{Op: OpDelete, Group: "g"}, Output{OK: true}),
			op(1, 4, 5, Input{Op: OpGet, Group: "g"}, Output{}),
		}},
		{"other key of the group is independent", true, []porcupine.Operation{
			op(0, 0, 1, Input{Op: OpPut, Group: "g", Slot: 1, Value: "a"}, Output{OK: true}),
			op(1, 2, 3, Input{Op: OpGet, Group: "g"}, Output{}),
			op(1, 4, 5, Input{Op: OpGet, Group: "g", Slot: 1}, Output{Read: kv("a")}),
		}},
		{"txn read sees a txn write whole", true, []porcupine.Operation{
			op(0, 0, 1, Input{Op: OpTxnPut, Group: "g", Values: [2]string{"a0", "a1"}}, Output{OK: true}),
			op(1, 2, 3, Input{Op: OpTxnGet, Group: "g"}, Output{Both: [2]KeyValue{kv("a0"), kv("a1")}}),
		}},
		{"txn read sees half a txn write", false, []porcupine.Operation{
			op(0, 0, 10, Input{Op: OpTxnPut, Group: "g", Values: [2]string{"a0", "a1"}}, Output{OK: true}),
			op(1, 2, 3, Input{Op: OpTxnGet, Group: "g"}, Output{Both: [2]KeyValue{kv("a0"), {}}}),
		}},
		{"txn read sees a single put and a txn write in order", true, []porcupine.Operation{
			op(0, 0, 1, Input{Op: OpTxnPut, Group: "g", Values: [2]string{"a0", "a1"}}, Output{OK: true}),
			op(0, 2, 3, Input{Op: OpPut, Group: "g", Slot: 1, Value: "b"}, Output{OK: true}),
			op(1, 4, 5, Input{Op: OpTxnGet, Group: "g"}, Output{Both: [2]KeyValue{kv("a0"), kv("b")}}),
		}},
		{"txn cas on the first key", true, []porcupine.Operation{
			op(0, 0, 1, Input{Op: OpPut, Group: "g", Value: "a"}, Output{OK: true}),
			op(0, 2, 3, Input{Op: OpTxnCAS, Group: "g", Expect: "a", Values: [2]string{"b0", "b1"}}, Output{OK: true}),
			op(0, 4, 5, Input{Op: OpTxnCAS, Group: "g", Expect: "a", Values: [2]string{"c0", "c1"}}, Output{OK: false}),
			op(1, 6, 7, Input{Op: OpTxnGet, Group: "g"}, Output{Both: [2]KeyValue{kv("b0"), kv("b1")}}),
		}},
		{"failed txn cas changed something", false, []porcupine.Operation{
			op(0, 0, 1, Input{Op: OpPut, Group: "g", Value: "a"}, Output{OK: true}),
			op(0, 2, 3, Input{Op: OpTxnCAS, Group: "g", Expect: "x", Values: [2]string{"b0", "b1"}}, Output{OK: false}),
			op(1, 4, 5, Input{Op: OpGet, Group: "g", Slot: 1}, Output{Read: kv("b1")}),
		}},
		{"unknown txn put may have happened whole", true, []porcupine.Operation{
			op(0, 0, 100, Input{Op: OpTxnPut, Group: "g", Values: [2]string{"a0", "a1"}}, Output{Unknown: true}),
			op(1, 2, 3, Input{Op: OpGet, Group: "g", Slot: 1}, Output{Read: kv("a1")}),
			op(1, 4, 5, Input{Op: OpGet, Group: "g"}, Output{Read: kv("a0")}),
		}},
	}
	for _, c := range cases {
		if got := porcupine.CheckOperations(model, c.ops); got != c.ok {
			t.Errorf("%s: linearizable = %v, want %v", c.name, got, c.ok)
		}
	}
}

// TestMissingWrites: the durability count sees a missing key and a key
// holding another value, and nothing else.
func TestMissingWrites(t *testing.T) {
	acked := map[string]string{"dur/a": "1", "dur/b": "2", "dur/c": "3", "dur/e": ""}
	have := map[string]string{"dur/a": "1", "dur/b": "9", "dur/d": "4"}
	if got, want := MissingWrites(acked, have), []string{"dur/b", "dur/c", "dur/e"}; !slices.Equal(got, want) {
		t.Fatalf("missing = %q, want %q", got, want)
	}
	if got := MissingWrites(acked, map[string]string{"dur/a": "1", "dur/b": "2", "dur/c": "3", "dur/e": ""}); len(got) != 0 {
		t.Fatalf("missing = %q from a complete state", got)
	}
}
