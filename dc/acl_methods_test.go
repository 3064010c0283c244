package dc

import "testing"

// TestEveryRPCMethodClassified: the ACL table names exactly the methods a
// server registers (register panics on one missing; this catches stale
// entries too).
func TestEveryRPCMethodClassified(t *testing.T) {
	s := &Server{}
	s.registerEndpoints()
	for m := range s.endpoints {
		if a, ok := rpcMethodAuth[m]; !ok || a.check == 0 || a.needs == "" {
			t.Errorf("RPC method %s has no ACL classification", m)
		}
	}
	for m := range rpcMethodAuth {
		if _, ok := s.endpoints[m]; !ok {
			t.Errorf("rpcMethodAuth names %s, which no server registers", m)
		}
	}
}
