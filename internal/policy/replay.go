package policy

import (
	"container/heap"
	"sync"
	"time"
)

// ReplayCache remembers the nonces of accepted requests until their
// requests could no longer pass the time window. It is bounded: when full
// of live nonces it refuses new requests (fails closed) rather than forget
// one that could then be replayed.
type ReplayCache struct {
	mu     sync.Mutex
	max    int
	now    func() time.Time
	seen   map[string]time.Time
	byTime expiryHeap
}

// NewReplayCache holds up to max nonces.
func NewReplayCache(max int, now func() time.Time) *ReplayCache {
	return &ReplayCache{max: max, now: now, seen: make(map[string]time.Time)}
}

// Add records nonce until expiry and reports whether it was new (and
// there was room).
func (c *ReplayCache) Add(nonce []byte, expiry time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune()
	k := string(nonce)
	if _, dup := c.seen[k]; dup {
		return false
	}
	if len(c.seen) >= c.max {
		return false
	}
	c.seen[k] = expiry
	heap.Push(&c.byTime, expiryEntry{nonce: k, at: expiry})
	return true
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
	now := c.now()
	for len(c.byTime) > 0 && !c.byTime[0].at.After(now) {
		e := heap.Pop(&c.byTime).(expiryEntry)
		delete(c.seen, e.nonce)
	}
}

type expiryEntry struct {
	nonce string
	at    time.Time
}

type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
