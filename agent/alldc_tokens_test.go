package agent

import (
	"maps"
	"testing"
)

func TestAllDCTokens(t *testing.T) {
	tok := newAllDCTokens(1000, 3)
	a := tok.token(map[string]uint64{"dc1": 10, "dc2": 5})
	b := tok.token(map[string]uint64{"dc1": 15})
	if a != 1000 || b != 1001 {
		t.Fatalf("tokens %d, %d; want 1000, 1001 (rising from the start)", a, b)
	}
	// Same sum, another vector: another token (a sum would collide).
	if c := tok.token(map[string]uint64{"dc1": 5, "dc2": 10}); c == a || c == b {
		t.Fatalf("a different vector got token %d", c)
	}
	if again := tok.token(map[string]uint64{"dc2": 5, "dc1": 10}); again != a {
		t.Fatalf("the same vector got %d, then %d", a, again)
	}
	vec, ok := tok.lookup(a)
	if !ok || !maps.Equal(vec, map[string]uint64{"dc1": 10, "dc2": 5}) {
		t.Fatalf("lookup(%d) = %v, %v", a, vec, ok)
	}
	vec["dc1"] = 99 // callers get a copy
	if vec, _ := tok.lookup(a); vec["dc1"] != 10 {
		t.Fatal("lookup handed out the stored vector")
	}
	if _, ok := tok.lookup(7); ok {
		t.Fatal("a token never minted was found")
	}
	// Past the limit the oldest is forgotten: its token answers at once.
	tok.token(map[string]uint64{"dc1": 20})
	if _, ok := tok.lookup(a); ok {
		t.Fatal("the oldest token survived past the limit")
	}
	if d := tok.token(map[string]uint64{"dc1": 10, "dc2": 5}); d == a {
		t.Fatal("a forgotten vector got its old token back; tokens must not be reused")
	}
}
