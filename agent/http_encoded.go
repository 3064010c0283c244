package agent

import (
	"encoding/json"
	"sync"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
)

// preEncoded is an answer already in JSON; writeJSON sends it as is.
type preEncoded []byte

// encodeOnce is build's answer for writeJSON. With a memo (an answer that
// identical blocking queries share) it is that answer's JSON, made by the
// first member that asks and sent as is to the others; without one, the
// value itself.
func encodeOnce(memo *dc.Memo, build func() any) any {
	if memo == nil {
		return build()
	}
	return memo.Do(func() any {
		v := build()
		body, err := json.Marshal(v)
		if err != nil {
			return v // writeJSON reports it
		}
		return preEncoded(body)
	})
}

// encodedAnswers keeps the JSON of the latest answer of each large service
// read (route, service, tags, filter...) on a server agent, keyed by the
// identity of the instances slice its server returned: the server hands
// every reader of an unchanged service the same cached slice (see dc's
// serviceCache; never for answers filtered by ACLs), so the same slice
// means the same answer, and readers
// share one encoding instead of each converting and encoding ~1 MB.
type encodedAnswers struct {
	mu      sync.Mutex
	entries map[string]encodedAnswer
}

type encodedAnswer struct {
	// src is the slice the body was encoded from. Holding it keeps its
	// backing array alive, so no other slice can have the same first
	// element address: a freshly built answer (one filtered by a
	// token's ACLs, say) never matches, even with equal elements.
	src  []*pb.ServiceInstance
	body []byte
}

// encodedAnswersMax bounds the answers kept (each up to a few MB).
const encodedAnswersMax = 32

// answer returns the JSON of build()'s answer for key over instances,
// from the cache when instances are the ones it was encoded from.
func (c *encodedAnswers) answer(key string, instances []*pb.ServiceInstance, build func() (any, error)) (preEncoded, error) {
	cacheable := len(instances) >= 32
	if cacheable {
		c.mu.Lock()
		e, ok := c.entries[key]
		c.mu.Unlock()
		if ok && len(e.src) == len(instances) && &e.src[0] == &instances[0] {
			return e.body, nil
		}
	}
	v, err := build()
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if cacheable {
		c.mu.Lock()
		if c.entries == nil {
			c.entries = map[string]encodedAnswer{}
		}
		if _, ok := c.entries[key]; !ok && len(c.entries) >= encodedAnswersMax {
			for k := range c.entries {
				delete(c.entries, k)
				break
			}
		}
		c.entries[key] = encodedAnswer{src: instances, body: body}
		c.mu.Unlock()
	}
	return body, nil
}
