package enclave

import (
	"container/list"
	"sync"

	"github.com/niomon/niomon/internal/hd"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/wire"
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

// remove drops key, wiping its value.
func (c *lru[V]) remove(key string) {
	if el, ok := c.index[key]; ok {
		e := el.Value.(*lruEntry[V])
		c.ll.Remove(el)
		delete(c.index, key)
		e.val.wipe()
	}
}

func (c *lru[V]) wipeAll() {
	for el := c.ll.Front(); el != nil; el = el.Next() {
		el.Value.(*lruEntry[V]).val.wipe()
	}
	c.ll.Init()
	clear(c.index)
}

// unsealed is a wallet as the enclave keeps it in memory: its seed, the
// master nodes derived from it (BIP39's seed costs a 2048-round PBKDF2, so
// it is made once per load), and its policy.
type unsealed struct {
	seed    *hd.Seed
	masters map[hd.Curve]*hd.Node // filled lazily, under the cache lock
	policy  *policy.Policy
	version uint64 // the sealed object's version
	creator wire.PublicKey
}

func (u *unsealed) wipe() {
	u.seed.Wipe()
	for _, m := range u.masters {
		m.Wipe()
	}
}

// master returns u's master node on curve c, deriving it on first use.
// The caller holds the cache lock and clones the result.
func (u *unsealed) master(c hd.Curve) (*hd.Node, error) {
	if m, ok := u.masters[c]; ok {
		return m, nil
	}
	m, err := hd.NewMaster(u.seed, c)
	if err != nil {
		return nil, err
	}
	u.masters[c] = m
	return m, nil
}

// derived is a cached intermediate node: the parent of a requested path.
type derived struct{ n *hd.Node }

func (d derived) wipe() { d.n.Wipe() }

// walletCache keeps unsealed wallets and derived nodes in memory, each in
// a bounded LRU whose evictions wipe the keys.
//
// Why cache derived nodes: a wallet signs again and again with the same
// few addresses, and its addresses are siblings (m/44'/60'/0'/0/0, /1, /2
// …). Keeping each requested node and its parent turns a five-step
// derivation with three scalar multiplications into none, or one step.
//
// Callers never hold a cached node: they get a clone, derive from it and
// wipe it, so an eviction never races a derivation.
type walletCache struct {
	mu      sync.Mutex
	wallets *lru[*unsealed]
	nodes   *lru[derived]    // derived nodes: requested paths and their parents
	loads   map[string]*load // single flight: one unseal per oid at a time
}

type load struct {
	done chan struct{}
	err  error
}

func newWalletCache(capacity int) *walletCache {
	return &walletCache{wallets: newLRU[*unsealed](capacity), nodes: newLRU[derived](2 * capacity), loads: make(map[string]*load)}
}

// walletView is what a request may read of a cached wallet without its
// keys.
type walletView struct {
	policy  *policy.Policy
	version uint64
	creator wire.PublicKey
}

// view returns oid's policy and version, loading the wallet on a miss.
func (c *walletCache) view(oid string, fill func() (*unsealed, error)) (walletView, error) {
	var v walletView
	err := c.with(oid, fill, func(u *unsealed) error {
		v = walletView{policy: u.policy, version: u.version, creator: u.creator}
		return nil
	})
	return v, err
}

// node returns a new node at path p on curve cv of wallet oid. The node
// itself and its parent are cached: signing again with an address costs no
// derivation, and a sibling costs one step.
func (c *walletCache) node(oid string, cv hd.Curve, p hd.Path, fill func() (*unsealed, error)) (*hd.Node, error) {
	if len(p) == 0 {
		return c.derive(oid, cv, p, fill)
	}
	key := func(p hd.Path) string { return oid + "\x00" + cv.String() + "\x00" + p.String() }
	leafKey, parentPath := key(p), p[:len(p)-1]
	c.mu.Lock()
	if leaf, ok := c.nodes.get(leafKey); ok {
		n := leaf.n.Clone()
		c.mu.Unlock()
		return n, nil
	}
	parentKey := key(parentPath)
	parent, ok := c.nodes.get(parentKey)
	var n *hd.Node
	if ok {
		n = parent.n.Clone()
	}
	c.mu.Unlock()
	if !ok {
		var err error
		if n, err = c.derive(oid, cv, parentPath, fill); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.nodes.put(parentKey, derived{n.Clone()})
		c.mu.Unlock()
	}
	defer n.Wipe()
	leaf, err := n.Child(p[len(p)-1])
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.nodes.put(leafKey, derived{leaf.Clone()})
	c.mu.Unlock()
	return leaf, nil
}

// derive returns a new node at path p below the wallet's master on cv.
func (c *walletCache) derive(oid string, cv hd.Curve, p hd.Path, fill func() (*unsealed, error)) (*hd.Node, error) {
	var m *hd.Node
	err := c.with(oid, fill, func(u *unsealed) error {
		master, err := u.master(cv)
		if err == nil {
			m = master.Clone()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	defer m.Wipe()
	return m.Derive(p)
}

// seed calls f with oid's seed, under the cache lock; f must not keep it.
func (c *walletCache) seed(oid string, fill func() (*unsealed, error), f func(*hd.Seed) error) error {
	return c.with(oid, fill, func(u *unsealed) error { return f(u.seed) })
}

// with runs f on the cached wallet oid under the cache lock, loading it
// with fill first on a miss. Concurrent misses for one oid share a single
// fill; a failed fill is not cached.
func (c *walletCache) with(oid string, fill func() (*unsealed, error), f func(*unsealed) error) error {
	for {
		c.mu.Lock()
		if w, ok := c.wallets.get(oid); ok {
			err := f(w)
			c.mu.Unlock()
			return err
		}
		if l, ok := c.loads[oid]; ok {
			c.mu.Unlock()
			<-l.done
			if l.err != nil {
				return l.err
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
			return err
		}
	}
}

// forget drops oid's cached wallet (its policy changed); its derived
// nodes stay, since a wallet's keys never change.
func (c *walletCache) forget(oid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wallets.remove(oid)
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
	c.nodes.wipeAll()
}
