module github.com/hashicorp/go-immutable-radix

// Meridian: 1.22 for sync/atomic.Pointer (watch.go) and its tests.
go 1.22

require (
	github.com/hashicorp/go-uuid v1.0.0
	github.com/hashicorp/golang-lru v0.5.0
)
