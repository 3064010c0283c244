package store

import (
	"bytes"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

// BenchmarkRestore restores a snapshot of 200,000 keys of 256 B (what a
// server does when it starts from its latest snapshot).
func BenchmarkRestore(b *testing.B) {
	s, err := New()
	if err != nil {
		b.Fatal(err)
	}
	val := bytes.Repeat([]byte("v"), 256)
	const keys, perTxn = 200000, 100
	for i := 0; i < keys/perTxn; i++ {
		var ops []*pb.TxnOp
		for j := range perTxn {
			ops = append(ops, &pb.TxnOp{Op: &pb.TxnOp_Kv{Kv: &pb.KVOp{Verb: pb.KVVerb_KV_SET,
				Entry: &pb.KVEntry{Key: fmt.Sprintf("bench/key/%08d", i*perTxn+j), Value: val}}}})
		}
		data, err := proto.Marshal(&pb.Command{Cmd: &pb.Command_Txn{Txn: &pb.TxnCommand{Ops: ops}}})
		if err != nil {
			b.Fatal(err)
		}
		if r := s.Apply(uint64(i+1), data); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	var buf bytes.Buffer
	snap := s.Snapshot()
	if _, err := snap.WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
	snap.Close()
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for range b.N {
		r, err := New()
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Restore(bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
