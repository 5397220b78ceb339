package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"
)

// ReplayCache remembers the nonces of accepted requests until their
// requests could no longer pass the time window. It is bounded: when full
// of live nonces it refuses new requests (fails closed) rather than forget
// one that could then be replayed.
//
// A nonce lives until its request's time plus Window, at most 2×Window
// after it is added, so a cache of n entries sustains n / (2×Window)
// stamped requests per second: 524,288 entries (about 14 MiB) sustain
// about 2,180 per second.
//
// Entries are 8 bytes: the first 8 bytes of SHA-256 of the nonce. Two
// live nonces sharing them (odds about n²/2⁶⁵, 10⁻⁸ for a full default
// cache) make the later request fail as a replay: a client retries with
// a new nonce. They expire by the second, from a wheel of per-second
// buckets.
type ReplayCache struct {
	mu     sync.Mutex
	max    int
	now    func() time.Time
	seen   map[uint64]struct{}
	wheel  map[int64][]uint64 // expiry second → keys expiring then
	pruned int64              // seconds up to here have been pruned
}

// NewReplayCache holds up to max nonces.
func NewReplayCache(max int, now func() time.Time) *ReplayCache {
	return &ReplayCache{max: max, now: now, seen: make(map[uint64]struct{}), wheel: make(map[int64][]uint64)}
}

func nonceKey(nonce []byte) uint64 {
	h := sha256.Sum256(nonce)
	return binary.BigEndian.Uint64(h[:8])
}

// Add records nonce until expiry and reports whether it was new and there
// was room.
func (c *ReplayCache) Add(nonce []byte, expiry time.Time) bool {
	k := nonceKey(nonce)
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
	// Round up: an entry may outlive its expiry by under a second, never
	// the other way.
	sec := max((expiry.UnixMilli()+999)/1000, c.pruned+1)
	c.wheel[sec] = append(c.wheel[sec], k)
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

// prune forgets the nonces of every second that has passed.
func (c *ReplayCache) prune() {
	now := c.now().Unix()
	if c.pruned == 0 || len(c.seen) == 0 {
		// Nothing to walk: start from now.
		c.pruned = now - 1
	}
	for sec := c.pruned + 1; sec <= now; sec++ {
		for _, k := range c.wheel[sec] {
			delete(c.seen, k)
		}
		delete(c.wheel, sec)
	}
	c.pruned = max(c.pruned, now)
}
