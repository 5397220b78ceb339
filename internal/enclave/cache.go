package enclave

import (
	"container/list"
	"sync"

	"github.com/niomon/niomon/internal/hd"
)

// unsealed is a wallet's key material as the enclave keeps it in memory:
// the BIP32 master node, from which every path derives. Deriving the seed
// from the mnemonic costs a 2048-round PBKDF2, so it is done once per load.
type unsealed struct {
	master *hd.Node
}

func (u *unsealed) wipe() { u.master.Wipe() }

// walletCache is a bounded LRU of unsealed wallets. An evicted wallet's
// keys are wiped at once. Callers never hold a cached node: they get a
// clone, derive from it and wipe it, so eviction never races a derivation.
type walletCache struct {
	mu    sync.Mutex
	cap   int
	ll    *list.List // front = most recently used; values are *cacheEntry
	byOID map[string]*list.Element

	loads map[string]*load // single flight: one unseal per oid at a time
}

type cacheEntry struct {
	oid string
	w   *unsealed
}

type load struct {
	done chan struct{}
	err  error
}

func newWalletCache(capacity int) *walletCache {
	return &walletCache{cap: max(capacity, 1), ll: list.New(), byOID: make(map[string]*list.Element), loads: make(map[string]*load)}
}

// master returns a clone of oid's master node, loading it with fill on a
// miss. Concurrent misses for one oid share a single fill.
func (c *walletCache) master(oid string, fill func() (*unsealed, error)) (*hd.Node, error) {
	for {
		c.mu.Lock()
		if el, ok := c.byOID[oid]; ok {
			c.ll.MoveToFront(el)
			n := el.Value.(*cacheEntry).w.master.Clone()
			c.mu.Unlock()
			return n, nil
		}
		if l, ok := c.loads[oid]; ok {
			c.mu.Unlock()
			<-l.done
			if l.err != nil {
				return nil, l.err
			}
			continue
		}
		l := &load{done: make(chan struct{})}
		c.loads[oid] = l
		c.mu.Unlock()

		w, err := fill()
		c.mu.Lock()
		delete(c.loads, oid)
		l.err = err
		if err == nil {
			c.insertLocked(oid, w)
		}
		c.mu.Unlock()
		close(l.done)
		if err != nil {
			return nil, err
		}
	}
}

func (c *walletCache) insertLocked(oid string, w *unsealed) {
	if el, ok := c.byOID[oid]; ok {
		old := el.Value.(*cacheEntry)
		old.w.wipe()
		old.w = w
		c.ll.MoveToFront(el)
		return
	}
	c.byOID[oid] = c.ll.PushFront(&cacheEntry{oid: oid, w: w})
	for c.ll.Len() > c.cap {
		el := c.ll.Back()
		e := el.Value.(*cacheEntry)
		c.ll.Remove(el)
		delete(c.byOID, e.oid)
		e.w.wipe()
	}
}

// len reports how many wallets are cached.
func (c *walletCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// wipeAll empties the cache, wiping every key.
func (c *walletCache) wipeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.ll.Front(); el != nil; el = el.Next() {
		el.Value.(*cacheEntry).w.wipe()
	}
	c.ll.Init()
	clear(c.byOID)
}
