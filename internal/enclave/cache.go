package enclave

import (
	"container/list"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/niomon/niomon/internal/chain/bls"
	"github.com/niomon/niomon/internal/hd"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/wire"
)

// lru is a bounded least-recently-used map whose values hold key material:
// a value is told to wipe the moment it leaves (eviction, replacement,
// removal, wipeAll). Callers hold the owner's lock.
type lru[V interface{ wipe() }] struct {
	cap   int
	ll    *list.List // front = most recently used; values are *lruEntry[V]
	index map[string]*list.Element
	// With a budget, the values' sizes (by size) add up to at most it
	// (the newest value stays even if it alone is larger).
	budget, used int
	size         func(V) int
}

type lruEntry[V any] struct {
	key  string
	val  V
	size int
}

func newLRU[V interface{ wipe() }](capacity int) *lru[V] {
	return &lru[V]{cap: max(capacity, 1), ll: list.New(), index: make(map[string]*list.Element)}
}

// newSizedLRU is newLRU that also keeps the values' sizes within budget.
func newSizedLRU[V interface{ wipe() }](capacity, budget int, size func(V) int) *lru[V] {
	c := newLRU[V](capacity)
	c.budget, c.size = budget, size
	return c
}

func (c *lru[V]) sizeOf(v V) int {
	if c.size == nil {
		return 0
	}
	return c.size(v)
}

func (c *lru[V]) get(key string) (V, bool) {
	if el, ok := c.index[key]; ok {
		c.ll.MoveToFront(el)
		return el.Value.(*lruEntry[V]).val, true
	}
	var zero V
	return zero, false
}

// peek is get without touching the order.
func (c *lru[V]) peek(key string) (V, bool) {
	if el, ok := c.index[key]; ok {
		return el.Value.(*lruEntry[V]).val, true
	}
	var zero V
	return zero, false
}

func (c *lru[V]) put(key string, v V) {
	n := c.sizeOf(v)
	if el, ok := c.index[key]; ok {
		e := el.Value.(*lruEntry[V])
		e.val.wipe()
		c.used += n - e.size
		e.val, e.size = v, n
		c.ll.MoveToFront(el)
	} else {
		c.index[key] = c.ll.PushFront(&lruEntry[V]{key: key, val: v, size: n})
		c.used += n
	}
	for c.ll.Len() > c.cap || (c.budget > 0 && c.used > c.budget && c.ll.Len() > 1) {
		c.drop(c.ll.Back())
	}
}

func (c *lru[V]) drop(el *list.Element) {
	e := el.Value.(*lruEntry[V])
	c.ll.Remove(el)
	delete(c.index, e.key)
	c.used -= e.size
	e.val.wipe()
}

func (c *lru[V]) len() int { return c.ll.Len() }

// remove drops key, wiping its value.
func (c *lru[V]) remove(key string) {
	if el, ok := c.index[key]; ok {
		c.drop(el)
	}
}

func (c *lru[V]) wipeAll() {
	for el := c.ll.Front(); el != nil; el = el.Next() {
		el.Value.(*lruEntry[V]).val.wipe()
	}
	c.ll.Init()
	clear(c.index)
	c.used = 0
}

// snapshot is one load of one wallet: its instance and version, its
// policy, and its keys. A method takes everything it checks and everything
// it uses from one snapshot, so the policy that authorises a request and
// the key that serves it always belong to the same wallet instance.
//
// A snapshot is immutable but for the master nodes it derives on first
// use. It is reference counted: the cache holds one reference while it
// lists the snapshot, each method holds one while it works, and the keys
// are wiped when the last reference goes. So an eviction never wipes a
// key in use, and a method never sees another load's keys.
type snapshot struct {
	oid      string
	instance instanceID
	version  uint64
	policy   *policy.Policy // prepared; read-only
	creator  wire.PublicKey
	attrs    [][]string
	policyID string
	created  int64
	imported bool

	entropy []byte
	seed    *hd.Seed
	sealed  []sealedNode // the record's prederived nodes, to seal again

	mmu     sync.Mutex
	masters map[hd.Curve]*hd.Node
	parents map[string]*hd.Node // prederived nodes by nodeKey(zero instance, curve, path); read-only

	// bucketVersion is the index bucket version this snapshot was last
	// found current at (0 without witnesses); recordHash the digest of the
	// sealed object it was loaded from.
	bucketVersion atomic.Uint64
	recordHash    [recordHashLen]byte

	rmu     sync.Mutex
	refs    int
	inCache bool
	wiped   bool
}

// newSnapshot builds a snapshot of rec (which the caller still wipes) with
// one reference, the caller's.
func newSnapshot(oid string, version uint64, rec *walletRecord) (*snapshot, error) {
	p := policy.Policy{Credentials: append([]policy.Credential(nil), rec.Policy.Credentials...)}
	if err := p.Prepare(); err != nil {
		return nil, err
	}
	seed, err := hd.NewSeed(rec.Seed)
	if err != nil {
		return nil, err
	}
	s := &snapshot{
		oid: oid, version: version, policy: &p, attrs: rec.Attributes, policyID: rec.PolicyID,
		created: rec.CreatedAt, imported: rec.Imported, entropy: append([]byte(nil), rec.Entropy...),
		seed: seed, masters: make(map[hd.Curve]*hd.Node), parents: make(map[string]*hd.Node), refs: 1,
		sealed: append([]sealedNode(nil), rec.Nodes...),
	}
	copy(s.instance[:], rec.Instance)
	copy(s.creator[:], rec.Creator)
	for i, sn := range rec.Nodes {
		n, err := hd.ParseSealedNode(sn.Node)
		if err != nil {
			s.release()
			return nil, fmt.Errorf("sealed wallet node: %w", err)
		}
		s.sealed[i].Node = append([]byte(nil), sn.Node...)
		if sn.Path == "m" {
			s.masters[hd.Curve(sn.Curve)] = n
		} else {
			s.parents[nodeKey(instanceID{}, hd.Curve(sn.Curve).String(), sn.Path)] = n
		}
	}
	return s, nil
}

// sealedNode returns a clone of s's prederived node at path on cv, or nil.
func (s *snapshot) sealedNode(cv hd.Curve, path string) *hd.Node {
	if n, ok := s.parents[nodeKey(instanceID{}, cv.String(), path)]; ok {
		return n.Clone()
	}
	return nil
}

// record returns the sealed form of s with policy p, for re-sealing.
func (s *snapshot) record(p *policy.Policy) *walletRecord {
	rec := &walletRecord{
		Format: walletFormat, Instance: s.instance[:], Entropy: append([]byte(nil), s.entropy...),
		Attributes: s.attrs, PolicyID: s.policyID, CreatedAt: s.created, Imported: s.imported,
		Policy: *p, Creator: s.creator.Bytes(),
	}
	_ = s.seed.Use(func(b []byte) error { rec.Seed = append([]byte(nil), b...); return nil })
	for _, n := range s.sealed {
		rec.Nodes = append(rec.Nodes, sealedNode{Curve: n.Curve, Path: n.Path, Node: append([]byte(nil), n.Node...)})
	}
	return rec
}

// hold adds a reference.
func (s *snapshot) hold() {
	s.rmu.Lock()
	s.refs++
	s.rmu.Unlock()
}

// release drops a reference; the last one wipes the keys.
func (s *snapshot) release() {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.refs--
	s.wipeIfUnused()
}

// wipe is the LRU's eviction: the cache's reference goes.
func (s *snapshot) wipe() {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.inCache = false
	s.wipeIfUnused()
}

func (s *snapshot) wipeIfUnused() {
	if s.refs > 0 || s.inCache || s.wiped {
		return
	}
	s.wiped = true
	s.seed.Wipe()
	clear(s.entropy)
	for _, n := range s.sealed {
		clear(n.Node)
	}
	for _, n := range s.parents {
		n.Wipe()
	}
	s.mmu.Lock()
	for _, m := range s.masters {
		m.Wipe()
	}
	s.mmu.Unlock()
}

// master returns a clone of s's master node on curve c, deriving it on
// first use under s's own lock (not the cache's).
func (s *snapshot) master(c hd.Curve) (*hd.Node, error) {
	s.mmu.Lock()
	defer s.mmu.Unlock()
	m, ok := s.masters[c]
	if !ok {
		var err error
		if m, err = hd.NewMaster(s.seed, c); err != nil {
			return nil, err
		}
		s.masters[c] = m
	}
	return m.Clone(), nil
}

// derived is a cached derived key: a BIP32/SLIP-10 node, or a BLS key.
type derived struct {
	n  *hd.Node
	sk *bls.SecretKey
}

func (d derived) wipe() {
	if d.n != nil {
		d.n.Wipe()
	}
	if d.sk != nil {
		d.sk.Wipe()
	}
}

// walletCache keeps wallet snapshots by oid and derived keys by wallet
// instance, each in a bounded LRU whose evictions wipe the keys.
//
// Derived keys are keyed by instance, never by oid: a wallet made later at
// the same oid is another instance and can never be served the keys of
// the one before.
//
// Why cache derived nodes: a wallet signs again and again with the same
// few addresses, and its addresses are siblings (m/44'/60'/0'/0/0, /1, /2
// …). Keeping each requested node and its parent turns a five-step
// derivation with three scalar multiplications into none, or one step.
// Callers never hold a cached node: they get a clone.
//
// The lock guards the two maps only; no derivation, unsealing or storage
// call runs under it.
type walletCache struct {
	mu      sync.Mutex
	wallets *lru[*snapshot]
	nodes   *lru[derived]
	loads   map[string]*load // single flight: one load per oid at a time
}

type load struct {
	done chan struct{}
	err  error
}

func newWalletCache(capacity int) *walletCache {
	return &walletCache{wallets: newLRU[*snapshot](capacity), nodes: newLRU[derived](2 * capacity), loads: make(map[string]*load)}
}

// acquire returns oid's cached snapshot with a reference for the caller,
// loading it with fill on a miss. Concurrent misses for one oid share one
// fill; a failed fill is not cached.
func (c *walletCache) acquire(oid string, fill func() (*snapshot, error)) (*snapshot, error) {
	for {
		c.mu.Lock()
		if s, ok := c.wallets.get(oid); ok {
			s.hold()
			c.mu.Unlock()
			return s, nil
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

		s, err := fill()
		c.mu.Lock()
		delete(c.loads, oid)
		l.err = err
		if err == nil {
			c.insert(s)
		}
		c.mu.Unlock()
		close(l.done)
		return s, err
	}
}

// insert lists s (whose caller keeps its own reference). c.mu is held.
func (c *walletCache) insert(s *snapshot) {
	s.rmu.Lock()
	s.inCache = true
	s.rmu.Unlock()
	c.wallets.put(s.oid, s)
}

// holds reports whether oid is cached.
func (c *walletCache) holds(oid string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.wallets.peek(oid)
	return ok
}

// consistent checks a snapshot loaded fresh from the store against the
// cached one: the same instance, and not older. A newer one (another
// replica changed the policy) replaces the cached one.
func (c *walletCache) consistent(s *snapshot) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	have, ok := c.wallets.peek(s.oid)
	if !ok {
		return nil
	}
	if !have.instance.equal(s.instance) || have.version > s.version {
		return errForked
	}
	if have.version < s.version {
		s.hold()
		c.insert(s)
	}
	return nil
}

// replace lists s in place of oid's cached snapshot, if any is cached.
func (c *walletCache) replace(s *snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.wallets.peek(s.oid); ok {
		s.hold()
		c.insert(s)
	}
}

// forget drops oid's cached snapshot. Its derived keys stay under its
// instance, which no other wallet has.
func (c *walletCache) forget(oid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wallets.remove(oid)
}

func nodeKey(inst instanceID, kind string, p string) string {
	return string(inst[:]) + "\x00" + kind + "\x00" + p
}

// node returns a new node at path p on curve cv of snapshot s. The node
// itself and its parent are cached under s's instance: signing again with
// an address costs no derivation, and a sibling costs one step.
func (c *walletCache) node(s *snapshot, cv hd.Curve, p hd.Path) (*hd.Node, error) {
	if len(p) == 0 {
		return s.master(cv)
	}
	leafKey, parentPath := nodeKey(s.instance, cv.String(), p.String()), p[:len(p)-1]
	c.mu.Lock()
	if leaf, ok := c.nodes.get(leafKey); ok {
		n := leaf.n.Clone()
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	if leaf := s.sealedNode(cv, p.String()); leaf != nil {
		// A default address, sealed with the wallet: no derivation.
		c.mu.Lock()
		c.nodes.put(leafKey, derived{n: leaf.Clone()})
		c.mu.Unlock()
		return leaf, nil
	}
	c.mu.Lock()
	parentKey := nodeKey(s.instance, cv.String(), parentPath.String())
	parent, ok := c.nodes.get(parentKey)
	var n *hd.Node
	if ok {
		n = parent.n.Clone()
	}
	c.mu.Unlock()
	if !ok {
		n = s.sealedNode(cv, parentPath.String())
		ok = n != nil
	}
	if !ok {
		m, err := s.master(cv)
		if err != nil {
			return nil, err
		}
		n, err = m.Derive(parentPath)
		m.Wipe()
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.nodes.put(parentKey, derived{n: n.Clone()})
		c.mu.Unlock()
	}
	defer n.Wipe()
	leaf, err := n.Child(p[len(p)-1])
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.nodes.put(leafKey, derived{n: leaf.Clone()})
	c.mu.Unlock()
	return leaf, nil
}

// blsKey returns a copy of the EIP-2333 key at path of snapshot s,
// deriving it (outside the cache lock) on a miss and caching it under s's
// instance.
func (c *walletCache) blsKey(s *snapshot, path string) (*bls.SecretKey, error) {
	key := nodeKey(s.instance, "bls", path)
	c.mu.Lock()
	if d, ok := c.nodes.get(key); ok {
		sk := d.sk.Clone()
		c.mu.Unlock()
		return sk, nil
	}
	c.mu.Unlock()
	var sk *bls.SecretKey
	err := s.seed.Use(func(b []byte) error {
		var err error
		sk, err = bls.DerivePath(b, path)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.nodes.put(key, derived{sk: sk.Clone()})
	c.mu.Unlock()
	return sk, nil
}

// len reports how many wallets are cached.
func (c *walletCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wallets.len()
}

// wipeAll empties the cache, wiping every key no method still holds (the
// last holder wipes those).
func (c *walletCache) wipeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wallets.wipeAll()
	c.nodes.wipeAll()
}
