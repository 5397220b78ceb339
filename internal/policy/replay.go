package policy

import (
	"container/heap"
	"crypto/sha256"
	"sync"
	"time"
)

// ReplayCache remembers the nonces of accepted requests until their
// requests could no longer pass the time window. It is bounded: when full
// of live nonces it refuses new requests (fails closed) rather than forget
// one that could then be replayed.
//
// Sizing: a nonce lives until its request's time plus Window, at most
// 2×Window after it is added. A cache of n entries therefore sustains
// n / (2×Window) stamped requests per second; the default 262,144 entries
// (about 20 MiB) sustain about 1,090 per second.
type ReplayCache struct {
	mu     sync.Mutex
	max    int
	now    func() time.Time
	seen   map[nonceKey]struct{}
	byTime expiryHeap
}

// nonceKey is a nonce's first 16 bytes of SHA-256: fixed size, so every
// entry costs the same whatever nonce length a client picks.
type nonceKey [16]byte

// NewReplayCache holds up to max nonces.
func NewReplayCache(max int, now func() time.Time) *ReplayCache {
	return &ReplayCache{max: max, now: now, seen: make(map[nonceKey]struct{})}
}

// Add records nonce until expiry and reports whether it was new and there
// was room.
func (c *ReplayCache) Add(nonce []byte, expiry time.Time) bool {
	h := sha256.Sum256(nonce)
	k := nonceKey(h[:16])
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune()
	if _, dup := c.seen[k]; dup {
		return false
	}
	if len(c.seen) >= c.max {
		return false
	}
	c.seen[k] = struct{}{}
	heap.Push(&c.byTime, expiryEntry{key: k, at: expiry.UnixMilli()})
	return true
}

// Full reports whether the cache has no room for a new nonce.
func (c *ReplayCache) Full() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune()
	return len(c.seen) >= c.max
}

// Len reports how many live nonces are held.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune()
	return len(c.seen)
}

// prune forgets expired nonces.
func (c *ReplayCache) prune() {
	now := c.now().UnixMilli()
	for len(c.byTime) > 0 && c.byTime[0].at <= now {
		e := heap.Pop(&c.byTime).(expiryEntry)
		delete(c.seen, e.key)
	}
}

type expiryEntry struct {
	key nonceKey
	at  int64 // Unix milliseconds
}

type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
