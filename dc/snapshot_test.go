package dc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/snapshot"
	"github.com/meridian-io/meridian/store"
)

// writeKeys writes n keys prefix%07d through the leader in transactions
// of store.MaxTxnOps sets each.
func writeKeys(t *testing.T, leader *testServer, prefix string, n, valueSize int) {
	t.Helper()
	value := bytes.Repeat([]byte("v"), valueSize)
	for i := 0; i < n; {
		req := &pb.TxnRequest{}
		for ; i < n && len(req.Ops) < store.MaxTxnOps; i++ {
			req.Ops = append(req.Ops, &pb.TxnOp{Op: &pb.TxnOp_Kv{Kv: &pb.KVOp{Verb: pb.KVVerb_KV_SET,
				Entry: &pb.KVEntry{Key: fmt.Sprintf("%s%07d", prefix, i), Value: value}}}})
		}
		var resp pb.TxnResponse
		if err := call(leader, MethodTxn, req, &resp); err != nil {
			t.Fatalf("txn: %v", err)
		}
		if len(resp.GetErrors()) > 0 {
			t.Fatalf("txn errors: %v", resp.GetErrors())
		}
	}
}

// saveSnapshot saves an archive of ts's state.
func saveSnapshot(t *testing.T, ts *testServer, stale bool) (*bytes.Buffer, snapshot.Meta) {
	t.Helper()
	ss, err := ts.SaveSnapshot(context.Background(), stale)
	if err != nil {
		t.Fatalf("save on %s: %v", ts.name, err)
	}
	defer ss.Close()
	var buf bytes.Buffer
	if err := ss.WriteArchive(&buf); err != nil {
		t.Fatalf("write archive of %s: %v", ts.name, err)
	}
	return &buf, ss.Meta
}

// kvIndex reads key on ts (stale) and returns its value and X-Consul-Index.
func kvIndex(t *testing.T, ts *testServer, key string) (string, uint64) {
	t.Helper()
	var resp pb.KVGetResponse
	if err := call(ts, MethodKVGet, &pb.KVGetRequest{Key: key, Query: &pb.QueryOptions{Consistency: pb.Consistency_CONSISTENCY_STALE}}, &resp); err != nil {
		t.Fatalf("get %s on %s: %v", key, ts.name, err)
	}
	if len(resp.Entries) == 0 {
		return "", resp.GetMeta().GetIndex()
	}
	return string(resp.Entries[0].Value), resp.GetMeta().GetIndex()
}

// TestSnapshotSaveRestore saves a snapshot of 100,000 keys, writes more,
// restores it through the leader, and checks that every server drops the
// later keys and that blocking queries on every server woke at the
// restore; then that a bit-flipped and a truncated archive are refused
// with the state left as it was.
func TestSnapshotSaveRestore(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		writeKeys(t, leader, "k/", 100_000, 16)

		ctx := context.Background()
		archive, meta := saveSnapshot(t, leader, false)
		if meta.Index == 0 || meta.Size == 0 || len(meta.Configuration.Servers) != 3 {
			t.Fatalf("meta = %+v", meta)
		}
		// A follower saves too, stale or not.
		f := c.followers(leader)[0]
		if fromFollower, _ := saveSnapshot(t, f, true); fromFollower.Len() == 0 {
			t.Fatal("stale save on a follower: empty archive")
		}
		if _, err := f.RestoreSnapshot(ctx, bytes.NewReader(archive.Bytes())); !errors.Is(err, ErrSnapshotNotLeader) {
			t.Fatalf("restore on a follower: err = %v", err)
		}

		writeKeys(t, leader, "later/", 1000, 16)
		for _, ts := range c.servers {
			waitFor(t, "later keys on "+ts.name, func() error {
				if v, _ := kvIndex(t, ts, "later/0000999"); v == "" {
					return errors.New("not yet")
				}
				return nil
			})
		}

		// One blocking query per server, waiting for later/0000000 to
		// change, with a 10-minute wait.
		type result struct {
			name  string
			after time.Duration
			value string
			err   error
		}
		woke := make(chan result, len(c.servers))
		for _, ts := range c.servers {
			_, idx := kvIndex(t, ts, "later/0000000")
			go func() {
				start := time.Now()
				var resp pb.KVGetResponse
				err := call(ts, MethodKVGet, &pb.KVGetRequest{Key: "later/0000000", Query: &pb.QueryOptions{
					Consistency: pb.Consistency_CONSISTENCY_STALE, MinIndex: idx, MaxWaitNanos: int64(10 * time.Minute)}}, &resp)
				r := result{name: ts.name, after: time.Since(start), err: err}
				if len(resp.Entries) > 0 {
					r.value = string(resp.Entries[0].Value)
				}
				woke <- r
			}()
		}
		if _, err := leader.RestoreSnapshot(ctx, bytes.NewReader(archive.Bytes())); err != nil {
			t.Fatalf("restore: %v", err)
		}
		for range c.servers {
			r := <-woke
			if r.err != nil || r.after >= 10*time.Minute || r.value != "" {
				t.Errorf("blocking query on %s: after %s, value %q, err %v; want woken by the restore with the key gone", r.name, r.after, r.value, r.err)
			}
		}
		for _, ts := range c.servers {
			waitFor(t, "restored state on "+ts.name, func() error {
				if v, _ := kvIndex(t, ts, "later/0000999"); v != "" {
					return errors.New("later key still there")
				}
				if v, _ := kvIndex(t, ts, "k/0099999"); v == "" {
					return errors.New("snapshot key missing")
				}
				return nil
			})
		}
		// Writes go on after the restore.
		if err := call(leader, MethodKVApply, kvSet("after", "1"), &pb.KVApplyResponse{}); err != nil {
			t.Fatalf("write after restore: %v", err)
		}
		for _, ts := range c.servers {
			waitFor(t, "write after restore on "+ts.name, func() error {
				if v, _ := kvIndex(t, ts, "after"); v != "1" {
					return errors.New("not yet")
				}
				return nil
			})
		}

		// Damaged archives are refused and change nothing.
		_, before := kvIndex(t, leader, "after")
		flipped := bytes.Clone(archive.Bytes())
		flipped[len(flipped)/2] ^= 0x01
		truncated := archive.Bytes()[:archive.Len()*2/3]
		// An intact archive whose state the store cannot read: Raft
		// would panic on it, so it must be refused before Raft sees it.
		var foreign bytes.Buffer
		garbage := bytes.Repeat([]byte{0xff}, 1000)
		if err := snapshot.Write(&foreign, snapshot.Meta{Version: 1, Index: 5, Size: int64(len(garbage))}, bytes.NewReader(garbage)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			data []byte
			want error
		}{
			{"bit-flipped", flipped, snapshot.ErrInvalid},
			{"truncated", truncated, snapshot.ErrInvalid},
			{"empty", nil, snapshot.ErrInvalid},
			{"unreadable state", foreign.Bytes(), store.ErrBadSnapshot},
		} {
			name := tc.name
			_, err := leader.RestoreSnapshot(ctx, bytes.NewReader(tc.data))
			if !errors.Is(err, tc.want) {
				t.Errorf("%s archive: err = %v, want %v", name, err, tc.want)
			}
			if v, idx := kvIndex(t, leader, "after"); v != "1" || idx != before {
				t.Errorf("%s archive changed the state: after = %q at index %d, was index %d", name, v, idx, before)
			}
		}
	})
}
