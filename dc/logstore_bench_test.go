package dc

import (
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// BenchmarkLogStoreAppend is one Raft append of one 300-byte entry on
// each backend, synced, one after the other: the disk work a lone write
// waits for on each server.
//
//	go test ./dc -run - -bench LogStoreAppend -benchtime 2000x
func BenchmarkLogStoreAppend(b *testing.B) {
	for _, backend := range []string{LogStoreWAL, LogStoreBoltDB} {
		b.Run(backend, func(b *testing.B) {
			ls, err := openLogStore(b.TempDir(), backend, logStoreOptions{NoFreelistSync: true}, quietLog)
			if err != nil {
				b.Fatal(err)
			}
			defer ls.Close()
			data := make([]byte, 300)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				if err := ls.StoreLogs([]*raft.Log{{Index: uint64(i) + 1, Term: 1, Data: data}}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
