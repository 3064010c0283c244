package dc

import "testing"

// TestServerOnlyMethodsAreRegistered keeps the server-only list to methods
// that exist.
func TestServerOnlyMethodsAreRegistered(t *testing.T) {
	for m := range serverOnlyMethods {
		if _, ok := rpcMethodAuth[m]; !ok {
			t.Errorf("server-only method %s is not a classified RPC method", m)
		}
	}
	if ServerOnlyMethod(MethodKVGet) {
		t.Errorf("KV.Get is called by client agents; it must not be server-only")
	}
}
