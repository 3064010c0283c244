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
	certFile := flag.String("cert-file", "", "serve HTTPS (HTTP/2 or HTTP/1.1) with this certificate")
	keyFile := flag.String("key-file", "", "the key of -cert-file")
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
	srv := &http.Server{Addr: *addr, Handler: mux}
	var err error
	if *certFile != "" {
		err = srv.ListenAndServeTLS(*certFile, *keyFile)
	} else {
		err = srv.ListenAndServe()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}
