package agent_test

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/internal/faultnet"
	"github.com/meridian-io/meridian/internal/testcluster"
)

// replStatus is the body of /v1/kv-replication/status.
type replStatus struct {
	Enabled            bool
	SourceDatacenter   string
	Running            bool
	Leader             string
	SourceIndex        uint64
	AppliedIndex       uint64
	LagEntries         uint64
	LagSeconds         float64
	LastError          string
	EntriesTransferred uint64
	FullSyncs          uint64
}

func kvReplStatus(t *testing.T, c *api.Client) replStatus {
	t.Helper()
	var st replStatus
	if _, err := c.Raw().Query("/v1/kv-replication/status", &st, nil); err != nil {
		t.Fatalf("replication status: %v", err)
	}
	return st
}

// putTxn writes pairs (or deletes keys with nil values) in one transaction.
func putTxn(t *testing.T, c *api.Client, keys []string, value func(string) []byte) {
	t.Helper()
	var ops api.KVTxnOps
	for _, k := range keys {
		if v := value(k); v != nil {
			ops = append(ops, &api.KVTxnOp{Verb: api.KVSet, Key: k, Value: v})
		} else {
			ops = append(ops, &api.KVTxnOp{Verb: api.KVDelete, Key: k})
		}
	}
	ok, resp, _, err := c.KV().Txn(ops, nil)
	if err != nil || !ok {
		t.Fatalf("txn: %v, %+v", err, resp)
	}
}

// sameUnder compares the keys and values under prefix in two DCs.
func sameUnder(c1, c2 *api.Client, prefix string) error {
	src, _, err := c1.KV().List(prefix, nil)
	if err != nil {
		return err
	}
	dst, _, err := c2.KV().List(prefix, nil)
	if err != nil {
		return err
	}
	if len(src) != len(dst) {
		return fmt.Errorf("%s: dc1 holds %d keys, dc2 %d", prefix, len(src), len(dst))
	}
	for i := range src {
		if src[i].Key != dst[i].Key || string(src[i].Value) != string(dst[i].Value) || src[i].Flags != dst[i].Flags {
			return fmt.Errorf("%s: dc1 %s=%q, dc2 %s=%q", prefix, src[i].Key, src[i].Value, dst[i].Key, dst[i].Value)
		}
	}
	return nil
}

// TestKVReplicationAcrossDatacenters: dc2 follows dc1's app/ through the
// official client's eyes. Writes and deletes arrive in dc1's order; a WAN
// partition makes the lag rise, and after the heal only the changed
// entries are transferred; dc2 refuses local writes under app/; a leader
// change in either datacenter does not stop it nor cause a full copy.
func TestKVReplicationAcrossDatacenters(t *testing.T) {
	nw := faultnet.New()
	f := testcluster.NewFederation(t, 2, testcluster.Options{Servers: 3, Network: nw, Tune: func(c *dc.Config) {
		c.RPCHoldTimeout = 3 * time.Second
		if c.Datacenter == "dc2" {
			c.KVReplication = dc.KVReplicationConfig{SourceDatacenter: "dc1", Prefixes: []string{"app/"}, Exclude: []string{"app/secret/"},
				Wait: 2 * time.Second, RPCSlack: 2 * time.Second, RetryMax: time.Second}
		}
	}})
	dc1, dc2 := f.DC("dc1"), f.DC("dc2")
	dc1.WaitForLeader(30 * time.Second)
	dc2.WaitForLeader(30 * time.Second)
	c1, c2 := client(t, dc1.Servers()[0]), client(t, dc2.Servers()[1])
	caughtUp := func(what string) {
		t.Helper()
		testcluster.WaitFor(t, 60*time.Second, func() error {
			if err := sameUnder(c1, c2, "app/k"); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			st := kvReplStatus(t, c2)
			if !st.Running || st.LagEntries != 0 || st.LagSeconds != 0 {
				return fmt.Errorf("%s: status %+v", what, st)
			}
			return nil
		})
	}

	// 1,000 writes in 50 transactions, then 100 deletes in 10.
	var keys []string
	for i := range 1000 {
		keys = append(keys, fmt.Sprintf("app/k%04d", i))
	}
	start := time.Now()
	for i := 0; i < len(keys); i += 20 {
		putTxn(t, c1, keys[i:i+20], func(k string) []byte { return []byte("v-" + k) })
	}
	for i := 0; i < 100; i += 10 {
		batch := make([]string, 0, 10)
		for j := i; j < i+10; j++ {
			batch = append(batch, keys[j*7])
		}
		putTxn(t, c1, batch, func(string) []byte { return nil })
	}
	caughtUp("1,000 writes and 100 deletes")
	t.Logf("1,000 writes and 100 deletes replicated %v after the first write", time.Since(start))
	// In order: dc2's indexes follow dc1's.
	src, _, err := c1.KV().List("app/", nil)
	if err != nil || len(src) != 900 {
		t.Fatalf("dc1 app/: %d keys, %v", len(src), err)
	}
	dst, _, err := c2.KV().List("app/", nil)
	if err != nil {
		t.Fatal(err)
	}
	dstIndex := map[string]uint64{}
	for _, p := range dst {
		dstIndex[p.Key] = p.ModifyIndex
	}
	sort.SliceStable(src, func(i, j int) bool { return src[i].ModifyIndex < src[j].ModifyIndex })
	for i := 1; i < len(src); i++ {
		a, b := src[i-1], src[i]
		if a.ModifyIndex < b.ModifyIndex && dstIndex[a.Key] > dstIndex[b.Key] {
			t.Fatalf("out of order: dc1 wrote %s (%d) before %s (%d), dc2 after (%d, %d)", a.Key, a.ModifyIndex, b.Key, b.ModifyIndex, dstIndex[a.Key], dstIndex[b.Key])
		}
	}

	// Local writes under app/ are refused in dc2, naming the source.
	_, err = c2.KV().Put(&api.KVPair{Key: "app/x", Value: []byte("local")}, nil)
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), `"dc1"`) {
		t.Fatalf("local write to app/x in dc2: %v", err)
	}
	if _, err := c2.KV().Put(&api.KVPair{Key: "app/secret/local", Value: []byte("mine")}, nil); err != nil {
		t.Fatalf("excluded key: %v", err)
	}

	// A WAN partition: dc2's lag rises; after the heal only the changes
	// cross.
	before := kvReplStatus(t, c2)
	var names1, names2 []string
	for _, n := range dc1.Nodes {
		names1 = append(names1, n.Name)
	}
	for _, n := range dc2.Nodes {
		names2 = append(names2, n.Name)
	}
	nw.Partition(names1, names2)
	cut := time.Now()
	putTxn(t, c1, keys[1:26], func(k string) []byte { return []byte("during-" + k) })
	putTxn(t, c1, keys[900:905], func(string) []byte { return nil })
	var lagged replStatus
	testcluster.WaitFor(t, 60*time.Second, func() error {
		lagged = kvReplStatus(t, c2)
		if lagged.LastError == "" || lagged.LagSeconds < 5 {
			return fmt.Errorf("status during the partition: %+v", lagged)
		}
		return nil
	})
	if got, _, err := c2.KV().Get(keys[1], nil); err != nil || string(got.Value) != "v-"+keys[1] {
		t.Fatalf("a change crossed the partition: %v %v", got, err)
	}
	// The partition lasts 30 s: hold the cut that long (the
	// fault's duration, not a wait for a condition).
	time.Sleep(time.Until(cut.Add(30 * time.Second)))
	nw.HealAll()
	healed := time.Now()
	caughtUp("after the partition")
	after := kvReplStatus(t, c2)
	t.Logf("lag during the partition %.1fs (%s); caught up %v after the heal", lagged.LagSeconds, lagged.LastError, time.Since(healed))
	if after.Leader == before.Leader {
		if n := after.EntriesTransferred - before.EntriesTransferred; n != 30 {
			t.Fatalf("catching up transferred %d entries, want the 30 changed (before %+v, after %+v)", n, before, after)
		}
	}
	if after.FullSyncs != before.FullSyncs {
		t.Fatalf("full copy after the partition: %+v", after)
	}

	// Leader changes: dc2's, then dc1's.
	old := dc2.Leader()
	dc2.Stop(old)
	dc2.WaitForLeader(30 * time.Second)
	c2 = client(t, dc2.Servers()[0])
	putTxn(t, c1, keys[30:40], func(k string) []byte { return []byte("after-dc2-leader-" + k) })
	caughtUp("after dc2's leader change")
	if st := kvReplStatus(t, c2); st.Leader == old.Name || st.FullSyncs != 0 || st.EntriesTransferred != 10 {
		t.Fatalf("the new leader of dc2 did not resume where the old one stopped: %+v", st)
	}
	old = dc1.Leader()
	dc1.Stop(old)
	dc1.WaitForLeader(30 * time.Second)
	for _, n := range dc1.Servers() {
		c1 = client(t, n)
	}
	putTxn(t, c1, keys[40:50], func(k string) []byte { return []byte("after-dc1-leader-" + k) })
	caughtUp("after dc1's leader change")
	if st := kvReplStatus(t, c2); st.FullSyncs != 0 || st.EntriesTransferred != 20 {
		t.Fatalf("after dc1's leader change: %+v", st)
	}

	// The leader of dc2 exports the same figures for Prometheus.
	resp, err := http.Get("http://" + dc2.Leader().HTTPAddr + "/v1/agent/metrics?format=prometheus")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"meridian_kv_replication_running 1\n", "meridian_kv_replication_entries_transferred_total 20\n",
		"meridian_kv_replication_lag_seconds 0\n", "meridian_kv_replication_lag_entries 0\n", "meridian_kv_replication_full_syncs_total 0\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
