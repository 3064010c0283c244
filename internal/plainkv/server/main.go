// Command server serves plainkv's KV on one address, for side-by-side
// runs of the shared load generator (scripts/compare-etcd.sh).
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"

	"github.com/meridian-io/meridian/internal/plainkv"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18601", "address to serve HTTP on")
	beforeAck := flag.Bool("before-ack", false, "wake a put's watchers before answering the put")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "server: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	kv := &plainkv.KV{BeforeAck: *beforeAck}
	mux := http.NewServeMux()
	mux.Handle("/v1/kv/", kv)
	// /held is the number of blocking gets waiting, for benchmarks.
	mux.HandleFunc("GET /held", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, kv.Held()) })
	if err := http.ListenAndServe(*addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}
