package enclave

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/niomon/niomon/internal/hd"
	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/wire"
)

// A wallet is answered for as an instance, not as a name. The oid is the
// name an app chose, and the runner's store decides what lives under it:
// the operator can delete a row, park it, or put another wallet at the
// same oid. The instance is a random id fixed when the wallet is made and
// sealed with it; it is in every receipt, address statement, signature
// answer, export and audit event, so that a client that pinned it tells
// its wallet from another one at the same oid.
type instanceID [instanceLen]byte

const instanceLen = 16

func newInstance() (instanceID, error) {
	var id instanceID
	_, err := rand.Read(id[:])
	return id, err
}

func (i instanceID) equal(o instanceID) bool { return subtle.ConstantTimeCompare(i[:], o[:]) == 1 }

// A new wallet object has version 1; each policy change writes the next
// version. The version is in the AEAD associated data, so an older blob
// cannot be passed off as the current one under its own version number.
const walletVersion = 1

// walletRecord is the plaintext of a sealed wallet object.
//
// It holds the BIP39 entropy (for export) and the BIP39 seed made from
// it: BIP39's seed is 2,048 rounds of PBKDF2, 1.2 ms, and a wallet that is
// not in the cache would pay them on every load. Sealing the seed makes a
// cache miss cost a store read and an unseal.
type walletRecord struct {
	Format     uint8         `cbor:"1,keyasint"`
	Entropy    []byte        `cbor:"2,keyasint"`
	Attributes [][]string    `cbor:"3,keyasint"`
	PolicyID   string        `cbor:"4,keyasint"`
	CreatedAt  int64         `cbor:"5,keyasint"` // Unix seconds
	Imported   bool          `cbor:"6,keyasint,omitempty"`
	Policy     policy.Policy `cbor:"7,keyasint"`
	// Creator is the static_key of the app that created the wallet: the
	// one app that may read its public keys without a user credential.
	Creator  []byte `cbor:"8,keyasint"`
	Instance []byte `cbor:"9,keyasint"`
	Seed     []byte `cbor:"10,keyasint"`
	// Nodes are the wallet's master nodes and the parents of its default
	// accounts (prederived), so that a load derives an address in one
	// step: see prederived.
	Nodes []sealedNode `cbor:"11,keyasint,omitempty"`
}

// sealedNode is a prederived node: its curve and path, and its
// hd.Node.AppendSealed form.
type sealedNode struct {
	Curve uint8  `cbor:"1,keyasint"`
	Path  string `cbor:"2,keyasint"`
	Node  []byte `cbor:"3,keyasint"`
}

// prederived are the nodes sealed with each wallet. A wallet not in the
// cache costs a store read, an unseal, and the derivation of the address
// asked for; from its master that is up to four scalar multiplications
// (m/44'/60'/0'/0/i: the master's public key, m/44'/60'/0', m/44'/60'/0'/0
// and the leaf), from the sealed parent of a default account it is one
// (the leaf's public key, which every signature result carries), and for
// the first address of a default account, sealed too, none. The master
// nodes serve every other path.
var prederived = []struct {
	curve hd.Curve
	path  string
}{
	{hd.Secp256k1, "m"}, {hd.Ed25519, "m"}, {hd.NIST256p1, "m"},
	{hd.Secp256k1, "m/44'/60'/0'/0"},  // Ethereum and EVM chains
	{hd.Secp256k1, "m/84'/0'/0'/0"},   // Bitcoin P2WPKH
	{hd.Secp256k1, "m/86'/0'/0'/0"},   // Bitcoin P2TR
	{hd.Secp256k1, "m/44'/118'/0'/0"}, // Cosmos
	{hd.Secp256k1, "m/44'/60'/0'/0/0"},
	{hd.Secp256k1, "m/84'/0'/0'/0/0"},
	{hd.Secp256k1, "m/86'/0'/0'/0/0"},
	{hd.Secp256k1, "m/44'/118'/0'/0/0"},
}

// prederive derives the prederived nodes of seed.
func prederive(seed *hd.Seed) ([]sealedNode, error) {
	var out []sealedNode
	// Derived nodes by curve and path, so that a default address is one
	// step from its account's parent (listed before it).
	nodes := map[string]*hd.Node{}
	defer func() {
		for _, n := range nodes {
			n.Wipe()
		}
	}()
	for _, pd := range prederived {
		p, err := hd.ParsePath(pd.path)
		if err != nil {
			return nil, err
		}
		var n *hd.Node
		if len(p) == 0 {
			if n, err = hd.NewMaster(seed, pd.curve); err != nil {
				return nil, err
			}
		} else {
			from, rest := nodes[pd.curve.String()+" m"], p
			if parent, ok := nodes[pd.curve.String()+" "+p[:len(p)-1].String()]; ok {
				from, rest = parent, p[len(p)-1:]
			}
			if from == nil {
				return nil, fmt.Errorf("prederived %s: its master is not listed before it", pd.path)
			}
			if n, err = from.Derive(rest); err != nil {
				// An invalid BIP32 child (odds 2^-128): not prederived;
				// the path is refused at use as it would be anyway.
				continue
			}
		}
		nodes[pd.curve.String()+" "+pd.path] = n
		out = append(out, sealedNode{Curve: uint8(pd.curve), Path: pd.path, Node: n.AppendSealed(nil)})
	}
	return out, nil
}

// walletFormat 2 added the instance and the seed. Format 1 records (dev
// clusters made before) have no instance and are refused by name.
const walletFormat = 2

func (r *walletRecord) wipe() {
	clear(r.Entropy)
	clear(r.Seed)
	for _, n := range r.Nodes {
		clear(n.Node)
	}
}

// errCorrupt is what a client hears when a stored wallet does not open:
// the runner lost, altered or swapped it. It is not an internal error of
// ours.
var errCorrupt = &wire.RPCError{Code: wire.CodeUnavailable, Message: "stored wallet does not authenticate"}

// errForked is what a client hears when the store holds, under an oid,
// another wallet than the one this enclave knows is there, or an older
// version than one it has seen: the store was edited or rolled back. The
// enclave answers for the wallet it knows, or not at all.
var errForked = &wire.RPCError{Code: wire.CodeUnavailable, Message: "the stored wallet is not the one this enclave knows (the store was edited or rolled back)"}

// walletStore is the one way the enclave reads and writes wallets: every
// method works on one snapshot that a single load returned, and takes its
// policy and its keys from that snapshot only.
type walletStore struct {
	e *Enclave
}

// load reads oid from the runner's store and unseals it into a snapshot
// (not cached). The caller releases it. With witnesses, the wallet is
// served only if the current index lists it, at the stored version and
// instance.
func (ws walletStore) load(ctx context.Context, oid string) (*snapshot, error) {
	l, err := ws.e.link()
	if err != nil {
		return nil, err
	}
	var obj *hostlink.Object
	var want entry
	var bucketVersion uint64
	for attempt := 0; ; attempt++ {
		var ahead bool
		obj, want, bucketVersion, ahead, err = ws.read(ctx, l, oid)
		if !ahead || attempt > 0 {
			break
		}
		// The store holds a newer wallet than the index this enclave
		// verified: a write that reached the store and not the witnesses
		// (perhaps another enclave's). Read the bucket from the store
		// again, which completes such a write, and the wallet with it.
		ws.e.fresh.forget(bucketOf(oid))
	}
	if err != nil {
		return nil, err
	}
	rec, err := ws.open(oid, obj)
	if err != nil {
		return nil, err
	}
	defer rec.wipe()
	s, err := newSnapshot(oid, obj.Version, rec)
	if err != nil {
		return nil, err
	}
	if ws.e.fresh != nil && !s.instance.equal(want.instance) {
		s.release()
		return nil, errForked
	}
	s.bucketVersion.Store(bucketVersion)
	s.recordHash = recordHash(obj.Blob)
	return s, nil
}

// read reads oid's stored object and, with witnesses, its entry in the
// current index, and checks that the index lists that object. ahead
// reports a stored object newer than the index lists (or one it does not
// list).
func (ws walletStore) read(ctx context.Context, l *hostlink.Link, oid string) (obj *hostlink.Object, want entry, bucketVersion uint64, ahead bool, err error) {
	// When the index bucket needs reads of its own (a lease to renew, a
	// bucket to load), the wallet is read meanwhile: one round trip
	// instead of two. When it does not, the wallet is read here, without
	// a goroutine to hand over to and back. Either way the wallet counts
	// only once the bucket lists it, below.
	type stored struct {
		obj *hostlink.Object
		err error
	}
	f := ws.e.fresh
	got := make(chan stored, 1)
	get := func() {
		obj, err := l.Get(ctx, kindWallet, oid)
		got <- stored{obj, err}
	}
	if f == nil {
		get()
		r := <-got
		return r.obj, entry{}, 0, false, r.err
	}
	if f.warm(bucketOf(oid)) {
		get()
	} else {
		go get()
	}
	bk, err := f.bucket(ctx, bucketOf(oid), oid)
	if err != nil {
		return nil, entry{}, 0, false, err
	}
	want, listed := bk.lookup(oid)
	r := <-got
	switch {
	case !listed:
		return nil, entry{}, 0, r.err == nil, errNotFound
	case errors.Is(r.err, hostlink.ErrNotFound):
		return nil, entry{}, 0, false, errStaleStore // the index lists it: the store lost it
	case r.err != nil:
		return nil, entry{}, 0, false, r.err
	case r.obj.Version != want.version || recordHash(r.obj.Blob) != want.record:
		ws.e.log.Warn("a stored wallet is not the record the index lists", "stored", r.obj.Version, "indexed", want.version)
		return nil, entry{}, 0, r.obj.Version > want.version, errStaleStore
	}
	return r.obj, want, bk.version, false, nil
}

// open unseals a stored wallet object.
func (ws walletStore) open(oid string, obj *hostlink.Object) (*walletRecord, error) {
	pt, err := ws.e.walletK.Open(oid, obj.Version, obj.Blob)
	if err != nil {
		ws.e.log.Warn("a stored wallet failed authentication", "oid_len", len(oid))
		return nil, errCorrupt
	}
	defer clear(pt)
	var rec walletRecord
	if err := wire.Unmarshal(pt, &rec); err != nil {
		rec.wipe()
		return nil, errors.New("sealed wallet record is malformed")
	}
	if rec.Format != walletFormat || len(rec.Instance) != instanceLen {
		rec.wipe()
		return nil, &wire.RPCError{Code: wire.CodeUnavailable, Message: fmt.Sprintf("the stored wallet has record format %d; this enclave reads format %d (make the dev data again)", rec.Format, walletFormat)}
	}
	return &rec, nil
}

// seal seals rec as version of oid.
func (ws walletStore) seal(oid string, version uint64, rec *walletRecord) (*hostlink.Object, error) {
	pt, err := wire.Marshal(rec)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	blob, err := ws.e.walletK.Seal(oid, version, pt)
	if err != nil {
		return nil, err
	}
	return &hostlink.Object{Kind: kindWallet, ID: oid, Version: version, Blob: blob}, nil
}

// newWallet is what a create or an import makes.
type newWallet struct {
	creator  wire.PublicKey
	oid      string
	mnemonic *hd.Mnemonic
	attrs    [][]string
	policyID string
	policy   policy.Policy
	imported bool
}

// create stores a new wallet and returns its snapshot; an existing oid is
// an error, never an overwrite. It also refuses an oid that this enclave
// holds in memory: the store said it was free, but the enclave knows it
// is not.
func (ws walletStore) create(ctx context.Context, w *newWallet) (*snapshot, error) {
	e := ws.e
	if e.cache.holds(w.oid) {
		return nil, errExists
	}
	if w.attrs == nil {
		w.attrs = [][]string{}
	}
	if w.policy.Credentials == nil {
		w.policy.Credentials = []policy.Credential{}
	}
	inst, err := newInstance()
	if err != nil {
		return nil, err
	}
	seed := w.mnemonic.Seed("")
	if seed == nil {
		return nil, errors.New("the BIP39 seed could not be made")
	}
	defer seed.Wipe()
	rec := walletRecord{
		Format: walletFormat, Instance: inst[:], Entropy: w.mnemonic.Entropy(), Attributes: w.attrs, PolicyID: w.policyID,
		CreatedAt: e.cfg.Now().Unix(), Imported: w.imported, Policy: w.policy, Creator: w.creator.Bytes(),
	}
	_ = seed.Use(func(b []byte) error { rec.Seed = append([]byte(nil), b...); return nil })
	defer rec.wipe()
	if rec.Nodes, err = prederive(seed); err != nil {
		return nil, err
	}
	obj, err := ws.seal(w.oid, walletVersion, &rec)
	if err != nil {
		return nil, err
	}
	if f := e.fresh; f != nil {
		// The index decides whether the oid is free, not the store; a
		// wallet made is listed with its instance in the same batch. A
		// create needs no wait for leases: an enclave that has not seen
		// it yet only says "not found".
		_, err := f.write(ctx, bucketOf(w.oid), true, func(cur *bucket) (*bucket, []hostlink.BatchWrite, error) {
			if _, ok := cur.lookup(w.oid); ok {
				return nil, nil, errExists
			}
			return cur.with(w.oid, entry{instance: inst, version: walletVersion, record: recordHash(obj.Blob)}), []hostlink.BatchWrite{{Object: obj, Create: true}}, nil
		})
		if err != nil {
			return nil, storageErr(err)
		}
	} else {
		l, err := e.link()
		if err != nil {
			return nil, storageErr(err)
		}
		if err := l.Create(ctx, obj); err != nil {
			return nil, storageErr(err)
		}
	}
	// Nothing cached may speak for this oid but the wallet just made.
	e.cache.forget(w.oid)
	return newSnapshot(w.oid, walletVersion, &rec)
}

// fresh loads oid from the store for a method that must not act on a
// cached copy (export, policy changes), and checks it against what the
// enclave holds in memory: the same instance, and no older version.
//
// With witnesses, the index is checked again once the load is done: a
// store read the runner held back may have been answered after the
// wallet changed elsewhere, and a snapshot is used only while the current
// index lists it.
func (ws walletStore) fresh(ctx context.Context, oid string) (*snapshot, error) {
	return ws.whileListed(ctx, func() (*snapshot, error) {
		s, err := ws.load(ctx, oid)
		if err != nil {
			return nil, storageErr(err)
		}
		if err := ws.e.cache.consistent(s); err != nil {
			s.release()
			return nil, err
		}
		return s, nil
	}, func() {})
}

// whileListed returns what get returns, once the current index lists it:
// a snapshot it no longer lists is dropped (stale runs) and got again,
// once.
func (ws walletStore) whileListed(ctx context.Context, get func() (*snapshot, error), stale func()) (*snapshot, error) {
	for attempt := 0; ; attempt++ {
		s, err := get()
		if err != nil {
			return nil, err
		}
		listed, err := ws.listed(ctx, s)
		if err != nil {
			s.release()
			return nil, err
		}
		if listed {
			return s, nil
		}
		s.release()
		stale()
		if attempt > 0 {
			return nil, errForked
		}
	}
}

// listed reports whether the current index lists snapshot s (always,
// without witnesses).
func (ws walletStore) listed(ctx context.Context, s *snapshot) (bool, error) {
	f := ws.e.fresh
	if f == nil {
		return true, nil
	}
	bk, err := f.bucket(ctx, bucketOf(s.oid), s.oid)
	if err != nil {
		return false, err
	}
	if bk.version == s.bucketVersion.Load() {
		return true, nil
	}
	if e, ok := bk.lookup(s.oid); ok && e.equal(entry{instance: s.instance, version: s.version, record: s.recordHash}) {
		s.bucketVersion.Store(bk.version)
		return true, nil
	}
	return false, nil
}

// cached returns oid's snapshot from the cache, loading it on a miss. The
// caller releases it.
//
// With witnesses, a cached snapshot is served only while the current
// index still lists it: a bucket that moved on since it was loaded is
// looked at again, and a wallet changed elsewhere is loaded again.
func (ws walletStore) cached(ctx context.Context, oid string) (*snapshot, error) {
	return ws.whileListed(ctx, func() (*snapshot, error) {
		s, err := ws.e.cache.acquire(oid, func() (*snapshot, error) { return ws.load(ctx, oid) })
		return s, storageErr(err)
	}, func() { ws.e.cache.forget(oid) })
}

// update re-seals s's record with policy next as version s.version+1, a
// compare-and-swap on s.version, and returns the new snapshot (cached).
// With witnesses it returns once the change is committed and every other
// enclave's read lease of the old state has run out: from then on no
// enclave serves the old policy.
func (ws walletStore) update(ctx context.Context, s *snapshot, next *policy.Policy) (*snapshot, error) {
	rec := s.record(next)
	defer rec.wipe()
	obj, err := ws.seal(s.oid, s.version+1, rec)
	if err != nil {
		return nil, err
	}
	var bucketVersion uint64
	if f := ws.e.fresh; f != nil {
		b := bucketOf(s.oid)
		wait, err := f.write(ctx, b, false, func(cur *bucket) (*bucket, []hostlink.BatchWrite, error) {
			if e, ok := cur.lookup(s.oid); !ok || !e.instance.equal(s.instance) || e.version != s.version {
				return nil, nil, errChanged
			}
			nb := cur.with(s.oid, entry{instance: s.instance, version: s.version + 1, record: recordHash(obj.Blob)})
			bucketVersion = nb.version
			return nb, []hostlink.BatchWrite{{Object: obj, Prev: s.version}}, nil
		})
		ws.e.cache.forget(s.oid)
		if err != nil {
			return nil, storageErr(err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, errUncommitted
		}
	} else {
		l, err := ws.e.link()
		if err != nil {
			return nil, storageErr(err)
		}
		if err := l.Update(ctx, obj, s.version); err != nil {
			ws.e.cache.forget(s.oid)
			if errors.Is(err, hostlink.ErrConflict) {
				return nil, errChanged
			}
			return nil, storageErr(err)
		}
	}
	ns, err := newSnapshot(s.oid, s.version+1, rec)
	if err != nil {
		return nil, err
	}
	ns.bucketVersion.Store(bucketVersion)
	ns.recordHash = recordHash(obj.Blob)
	ws.e.cache.replace(ns)
	return ns, nil
}

var errChanged = &wire.RPCError{Code: wire.CodeConflict, Message: "the wallet changed since this request was written"}

// errNotYours is what an app hears about a wallet another app created:
// the same as for a wallet that does not exist, so apps cannot probe each
// other's users.
var errNotYours = errNotFound
