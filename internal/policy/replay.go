package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
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
// stamped requests per second: 524,288 entries (23 MiB measured, 32 MiB
// when every nonce is another owner's) sustain
// about 2,180 per second.
//
// Each nonce has an owner (the enclave uses the wallet), and one owner
// holds at most a share of the cache (NewReplayCache's perOwner): a wallet
// stamping as fast as its holder can, one an app made for itself to fill
// the cache, is refused once it holds its share, and every other wallet
// is still served.
//
// Entries are 8 bytes of key (the first 8 bytes of SHA-256 of the nonce)
// and 8 of value (the expiry second and the owner's 4-byte hash). Two live
// nonces sharing a key (odds about n²/2⁶⁵, 10⁻⁸ for a full default cache)
// make the later request fail as a replay: a client retries with a new
// nonce. Two owners sharing a hash share a budget. Entries expire by the
// second, from a wheel of per-second buckets.
type ReplayCache struct {
	mu       sync.Mutex
	max      int
	perOwner int
	now      func() time.Time
	seen     map[uint64]uint64  // key → expiry second << 32 | owner hash
	owners   map[uint32]uint16  // owner hash → live nonces (perOwner ≤ 65,535)
	wheel    map[int64][]uint64 // expiry second → keys expiring then
	pruned   int64              // seconds up to here have been pruned
}

// NewReplayCache holds up to max nonces, at most perOwner of them for one
// owner (perOwner ≤ 0: no budget).
func NewReplayCache(max, perOwner int, now func() time.Time) *ReplayCache {
	if perOwner <= 0 || perOwner > math.MaxUint16 {
		perOwner = min(max, math.MaxUint16)
	}
	return &ReplayCache{max: max, perOwner: perOwner, now: now, seen: make(map[uint64]uint64), owners: make(map[uint32]uint16), wheel: make(map[int64][]uint64)}
}

func nonceKey(nonce []byte) uint64 {
	h := sha256.Sum256(nonce)
	return binary.BigEndian.Uint64(h[:8])
}

func ownerHash(owner []byte) uint32 {
	h := sha256.Sum256(owner)
	return binary.BigEndian.Uint32(h[:4])
}

// Outcomes of Add.
type addResult int

const (
	added addResult = iota
	replayed
	full      // the cache is full
	ownerFull // the owner holds its share
)

// Add records nonce for owner until expiry and reports whether it was new
// and there was room.
func (c *ReplayCache) Add(nonce, owner []byte, expiry time.Time) bool {
	return c.add(nonce, owner, expiry) == added
}

func (c *ReplayCache) add(nonce, owner []byte, expiry time.Time) addResult {
	k, o := nonceKey(nonce), ownerHash(owner)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune()
	if _, dup := c.seen[k]; dup {
		return replayed
	}
	if len(c.seen) >= c.max {
		return full
	}
	if int(c.owners[o]) >= c.perOwner {
		return ownerFull
	}
	// Round up: an entry may outlive its expiry by under a second, never
	// the other way.
	sec := max((expiry.UnixMilli()+999)/1000, c.pruned+1)
	c.seen[k] = uint64(sec)<<32 | uint64(o)
	c.owners[o]++
	c.wheel[sec] = append(c.wheel[sec], k)
	return added
}

// Release forgets nonce, so that the same request may be sent again: for
// a request that failed before it had any effect. Its wheel entry stays
// and expires harmlessly.
func (c *ReplayCache) Release(nonce []byte) {
	k := nonceKey(nonce)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drop(k)
}

func (c *ReplayCache) drop(k uint64) {
	v, ok := c.seen[k]
	if !ok {
		return
	}
	delete(c.seen, k)
	o := uint32(v)
	if c.owners[o] <= 1 {
		delete(c.owners, o)
	} else {
		c.owners[o]--
	}
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

// prune forgets the nonces of every second that has passed. A key whose
// entry was released and added again belongs to its newer second, and is
// kept.
func (c *ReplayCache) prune() {
	now := c.now().Unix()
	if c.pruned == 0 || len(c.seen) == 0 {
		// Nothing to walk: start from now.
		c.pruned = now - 1
		clear(c.wheel)
	}
	for sec := c.pruned + 1; sec <= now; sec++ {
		for _, k := range c.wheel[sec] {
			if v, ok := c.seen[k]; ok && int64(v>>32) == sec {
				c.drop(k)
			}
		}
		delete(c.wheel, sec)
	}
	c.pruned = max(c.pruned, now)
}
