package enclave

import (
	"container/list"
	"sync"

	"github.com/niomon/niomon/internal/hd"
)

// lru is a bounded least-recently-used map whose values hold key material:
// a value is wiped the moment it leaves (eviction, replacement, wipeAll).
// Callers hold the owner's lock.
type lru[V interface{ wipe() }] struct {
	cap   int
	ll    *list.List // front = most recently used; values are *lruEntry[V]
	index map[string]*list.Element
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V interface{ wipe() }](capacity int) *lru[V] {
	return &lru[V]{cap: max(capacity, 1), ll: list.New(), index: make(map[string]*list.Element)}
}

func (c *lru[V]) get(key string) (V, bool) {
	if el, ok := c.index[key]; ok {
		c.ll.MoveToFront(el)
		return el.Value.(*lruEntry[V]).val, true
	}
	var zero V
	return zero, false
}

func (c *lru[V]) put(key string, v V) {
	if el, ok := c.index[key]; ok {
		e := el.Value.(*lruEntry[V])
		e.val.wipe()
		e.val = v
		c.ll.MoveToFront(el)
		return
	}
	c.index[key] = c.ll.PushFront(&lruEntry[V]{key: key, val: v})
	for c.ll.Len() > c.cap {
		el := c.ll.Back()
		e := el.Value.(*lruEntry[V])
		c.ll.Remove(el)
		delete(c.index, e.key)
		e.val.wipe()
	}
}

func (c *lru[V]) len() int { return c.ll.Len() }

func (c *lru[V]) wipeAll() {
	for el := c.ll.Front(); el != nil; el = el.Next() {
		el.Value.(*lruEntry[V]).val.wipe()
	}
	c.ll.Init()
	clear(c.index)
}

// unsealed is a wallet's key material as the enclave keeps it in memory:
// the BIP32 master node, from which every path derives. Deriving the seed
// from the mnemonic costs a 2048-round PBKDF2, so it is done once per load.
type unsealed struct {
	master *hd.Node
}

func (u *unsealed) wipe() { u.master.Wipe() }

// derived is a cached intermediate node: the parent of a requested path.
type derived struct{ n *hd.Node }

func (d derived) wipe() { d.n.Wipe() }

// walletCache keeps unsealed wallets and derived parent nodes in memory,
// each in a bounded LRU whose evictions wipe the keys.
//
// Why cache parent nodes: a wallet's addresses are siblings
// (m/44'/60'/0'/0/0, /1, /2 …). Keeping their parent turns a five-step
// derivation with three scalar multiplications into one step with one.
//
// Callers never hold a cached node: they get a clone, derive from it and
// wipe it, so an eviction never races a derivation.
type walletCache struct {
	mu      sync.Mutex
	wallets *lru[*unsealed]
	parents *lru[derived]
	loads   map[string]*load // single flight: one unseal per oid at a time
}

type load struct {
	done chan struct{}
	err  error
}

func newWalletCache(capacity int) *walletCache {
	return &walletCache{wallets: newLRU[*unsealed](capacity), parents: newLRU[derived](capacity), loads: make(map[string]*load)}
}

// node returns a new node at path p of wallet oid, loading the wallet with
// fill on a miss. Concurrent misses for one oid share a single fill.
func (c *walletCache) node(oid string, p hd.Path, fill func() (*unsealed, error)) (*hd.Node, error) {
	if len(p) == 0 {
		return c.derive(oid, p, fill)
	}
	parentPath := p[:len(p)-1]
	key := oid + "\x00" + parentPath.String()
	c.mu.Lock()
	parent, ok := c.parents.get(key)
	var n *hd.Node
	if ok {
		n = parent.n.Clone()
	}
	c.mu.Unlock()
	if !ok {
		var err error
		if n, err = c.derive(oid, parentPath, fill); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.parents.put(key, derived{n.Clone()})
		c.mu.Unlock()
	}
	defer n.Wipe()
	return n.Child(p[len(p)-1])
}

// derive returns a new node at path p below the wallet's master.
func (c *walletCache) derive(oid string, p hd.Path, fill func() (*unsealed, error)) (*hd.Node, error) {
	for {
		c.mu.Lock()
		if w, ok := c.wallets.get(oid); ok {
			m := w.master.Clone()
			c.mu.Unlock()
			defer m.Wipe()
			return m.Derive(p)
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
			c.wallets.put(oid, w)
		}
		c.mu.Unlock()
		close(l.done)
		if err != nil {
			return nil, err
		}
	}
}

// len reports how many wallets are cached.
func (c *walletCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wallets.len()
}

// wipeAll empties the cache, wiping every key.
func (c *walletCache) wipeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wallets.wipeAll()
	c.parents.wipeAll()
}
