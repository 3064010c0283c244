package chaos

import (
	"testing"

	"github.com/anishathalye/porcupine"
)

func op(client int, call, ret int64, in Input, out Output) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

func TestModelAcceptsAndRejects(t *testing.T) {
	model := KVModel.ToModel()
	cases := []struct {
		name string
		ok   bool
		ops  []porcupine.Operation
	}{
		{"sequential put get", true, []porcupine.Operation{
			op(0, 0, 1, Input{Op: OpPut, Key: "k", Value: "a"}, Output{OK: true}),
			op(1, 2, 3, Input{Op: OpGet, Key: "k"}, Output{Exists: true, Value: "a"}),
		}},
		{"stale read after acknowledged put", false, []porcupine.Operation{
			op(0, 0, 1, Input{Op: OpPut, Key: "k", Value: "a"}, Output{OK: true}),
			op(1, 2, 3, Input{Op: OpGet, Key: "k"}, Output{Exists: false}),
		}},
		{"concurrent read may see either", true, []porcupine.Operation{
			op(0, 0, 10, Input{Op: OpPut, Key: "k", Value: "a"}, Output{OK: true}),
			op(1, 2, 3, Input{Op: OpGet, Key: "k"}, Output{Exists: false}),
			op(2, 4, 5, Input{Op: OpGet, Key: "k"}, Output{Exists: true, Value: "a"}),
		}},
		{"reads go backwards", false, []porcupine.Operation{
			op(0, 0, 10, Input{Op: OpPut, Key: "k", Value: "a"}, Output{OK: true}),
			op(1, 2, 3, Input{Op: OpGet, Key: "k"}, Output{Exists: true, Value: "a"}),
			op(2, 4, 5, Input{Op: OpGet, Key: "k"}, Output{Exists: false}),
		}},
		{"unknown put may have happened", true, []porcupine.Operation{
			op(0, 0, 100, Input{Op: OpPut, Key: "k", Value: "a"}, Output{Unknown: true}),
			op(1, 2, 3, Input{Op: OpGet, Key: "k"}, Output{Exists: true, Value: "a"}),
		}},
		{"unknown put may not have happened", true, []porcupine.Operation{
			op(0, 0, 100, Input{Op: OpPut, Key: "k", Value: "a"}, Output{Unknown: true}),
			op(1, 2, 3, Input{Op: OpGet, Key: "k"}, Output{Exists: false}),
		}},
		{"cas on the right value", true, []porcupine.Operation{
			op(0, 0, 1, Input{Op: OpCAS, Key: "k", Value: "a", ExpectAbsent: true}, Output{OK: true}),
			op(0, 2, 3, Input{Op: OpCAS, Key: "k", Value: "b", Expect: "a"}, Output{OK: true}),
			op(0, 4, 5, Input{Op: OpCAS, Key: "k", Value: "c", Expect: "a"}, Output{OK: false}),
			op(1, 6, 7, Input{Op: OpGet, Key: "k"}, Output{Exists: true, Value: "b"}),
		}},
		{"two winners of one cas", false, []porcupine.Operation{
			op(0, 0, 1, Input{Op: OpPut, Key: "k", Value: "a"}, Output{OK: true}),
			op(1, 2, 5, Input{Op: OpCAS, Key: "k", Value: "b", Expect: "a"}, Output{OK: true}),
			op(2, 2, 5, Input{Op: OpCAS, Key: "k", Value: "c", Expect: "a"}, Output{OK: true}),
		}},
		{"delete then absent", true, []porcupine.Operation{
			op(0, 0, 1, Input{Op: OpPut, Key: "k", Value: "a"}, Output{OK: true}),
			op(0, 2, 3, Input{Op: OpDelete, Key: "k"}, Output{OK: true}),
			op(1, 4, 5, Input{Op: OpGet, Key: "k"}, Output{Exists: false}),
		}},
	}
	for _, c := range cases {
		if got := porcupine.CheckOperations(model, c.ops); got != c.ok {
			t.Errorf("%s: linearizable = %v, want %v", c.name, got, c.ok)
		}
	}
}
