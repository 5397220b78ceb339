package enclave

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"sync"
	"time"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/seal"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/internal/witness/wproto"
)

// Freshness (DESIGN.md invariant 4: the enclave never learns which policy
// version is current from the store alone).
//
// The heads of the wallet index's buckets are held by the witnesses fixed
// at genesis (package wproto says why and how). This enclave:
//
//   - reads every witness's heads in the background (only what changed
//     since its last read) and holds a read lease while at least n-k+1 of
//     them answered within it; with no lease it serves no wallet;
//   - serves each bucket at the newest head those witnesses show, and
//     only if the store's bucket object is that head (or the one right
//     after it, which it then commits: a write that reached the store
//     but not the witnesses);
//   - writes a bucket by storing the new bucket and wallet objects in one
//     batch, then having k witnesses move the head; a policy change is
//     acknowledged only after the other holders' leases that the
//     witnesses report have run out.
//
// So no store rollback, restart of any enclave or choice of replica makes
// a version older than an acknowledged one usable: a rolled-back bucket
// is older than the head, a restarted enclave reads the heads before it
// serves, and a replica serves from its memory only within a lease that
// every writer waits out. What it rests on: fewer than k witnesses
// collude with the operator, and the enclaves' and witnesses' clocks run
// at about the same rate (leases are durations, each end measures its
// own; the enclave keeps a margin).

// errNoLease: the witnesses did not answer enough to know the index is
// current; the enclave serves no wallet until they do.
var errNoLease = &wire.RPCError{Code: wire.CodeUnavailable, Message: "the cluster's witnesses do not answer, so the enclave cannot tell which wallet versions are current; it serves none until they do"}

// errStaleStore: the store's index is not what the witnesses hold.
var errStaleStore = &wire.RPCError{Code: wire.CodeUnavailable, Message: "the store's wallet index is older than, or differs from, what the cluster's witnesses hold (the store was rolled back or edited)"}

// errDiverged: the witnesses disagree on a bucket and no quorum says which
// head is current.
var errDiverged = &wire.RPCError{Code: wire.CodeUnavailable, Message: "the cluster's witnesses disagree on the wallet index; it is served again once a quorum agrees"}

// errUncommitted: a write reached the store but not a quorum of
// witnesses. It may still take effect (any enclave completes it when it
// reads the bucket).
var errUncommitted = &wire.RPCError{Code: wire.CodeUnavailable, Message: "the change was stored but not confirmed by a quorum of witnesses; it may take effect later: read the wallet's policy before sending it again"}

type freshness struct {
	e         *Enclave
	witnesses []api.WitnessSpec
	quorum    int // witnesses that must hold a write (k)
	readQ     int // witnesses whose heads a read lease needs (n-k+1)
	key       ed25519.PrivateKey
	pub       ed25519.PublicKey
	holder    []byte
	indexK    *seal.Key

	mu        sync.Mutex
	views     []witnessView
	leaseTill time.Time
	refresh   *load // single flight

	writers [indexBuckets]sync.Mutex // one writer per bucket in this enclave
	buckets *lru[bucketEntry]        // verified buckets by number
	stopped chan struct{}            // closed when run returns
}

type witnessView struct {
	epoch  uint64
	heads  map[uint32]wproto.Head
	answer time.Time // send time of the read it last answered
}

type bucketEntry struct{ b *bucket }

func (bucketEntry) wipe() {}

func newFreshness(e *Enclave, mk *seal.MasterKey, witnesses []api.WitnessSpec, quorum int) (*freshness, error) {
	key, err := mk.WitnessKey()
	if err != nil {
		return nil, err
	}
	ik, err := mk.SealingKey(kindIndex)
	if err != nil {
		return nil, err
	}
	holder := make([]byte, wproto.HolderLen)
	if _, err := rand.Read(holder); err != nil {
		return nil, err
	}
	f := &freshness{
		e: e, witnesses: witnesses, quorum: quorum, readQ: len(witnesses) - quorum + 1,
		key: key, pub: key.Public().(ed25519.PublicKey), holder: holder, indexK: ik,
		views: make([]witnessView, len(witnesses)), buckets: newLRU[bucketEntry](indexBucketCache),
		stopped: make(chan struct{}),
	}
	for i := range f.views {
		f.views[i].heads = map[uint32]wproto.Head{}
	}
	return f, nil
}

// run refreshes the lease in the background until ctx ends.
func (f *freshness) run(ctx context.Context) {
	defer close(f.stopped)
	_ = f.renew(ctx)
	t := time.NewTicker(witnessRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = f.renew(ctx)
		}
	}
}

// renew reads every witness once (concurrent callers share one read).
func (f *freshness) renew(ctx context.Context) error {
	f.mu.Lock()
	if l := f.refresh; l != nil {
		f.mu.Unlock()
		<-l.done
		return l.err
	}
	l := &load{done: make(chan struct{})}
	f.refresh = l
	f.mu.Unlock()
	l.err = f.readAll(ctx)
	f.mu.Lock()
	f.refresh = nil
	f.mu.Unlock()
	close(l.done)
	return l.err
}

func (f *freshness) newRequest(op string) (*wproto.Request, error) {
	nonce := make([]byte, wproto.NonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return &wproto.Request{Op: op, Cluster: f.pub, Holder: f.holder, Nonce: nonce}, nil
}

// ask sends req to witness i and opens its answer.
func (f *freshness) ask(ctx context.Context, i int, req *wproto.Request) (*wproto.Response, error) {
	b, err := wproto.SignRequest(f.key, req)
	if err != nil {
		return nil, err
	}
	l, err := f.e.link()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, witnessTimeout)
	defer cancel()
	reply, err := l.Witness(ctx, i, b)
	if err != nil {
		return nil, err
	}
	return wproto.OpenResponse(reply, f.witnesses[i].Key, req)
}

// readAll reads the heads changed at every witness since its last answer.
func (f *freshness) readAll(ctx context.Context) error {
	sent := f.e.cfg.Now()
	type answer struct {
		i int
		r *wproto.Response
	}
	answers := make(chan answer, len(f.witnesses))
	for i := range f.witnesses {
		f.mu.Lock()
		since := f.views[i].epoch
		f.mu.Unlock()
		go func() {
			req, err := f.newRequest(wproto.OpRead)
			if err != nil {
				answers <- answer{i, nil}
				return
			}
			req.Since, req.LeaseMillis = since, uint64(witnessLease.Milliseconds())
			r, err := f.ask(ctx, i, req)
			if err != nil || r.Status != wproto.StatusOK || r.LeaseMillis != req.LeaseMillis {
				if err != nil {
					f.e.log.Debug("witness read failed", "witness", f.witnesses[i].Name, "err", err)
				}
				answers <- answer{i, nil}
				return
			}
			answers <- answer{i, r}
		}()
	}
	n := 0
	for range f.witnesses {
		a := <-answers
		if a.r == nil {
			continue
		}
		f.mu.Lock()
		v := &f.views[a.i]
		if a.r.Epoch < v.epoch {
			// A witness that went back: its state was rolled back. Its
			// answers count for nothing until it is ahead again.
			f.e.log.Warn("a witness answered with an older state than before", "witness", f.witnesses[a.i].Name)
			f.mu.Unlock()
			continue
		}
		for _, h := range a.r.Heads {
			v.heads[h.Bucket] = h.Head
		}
		v.epoch, v.answer = a.r.Epoch, sent
		f.mu.Unlock()
		n++
	}
	if n < f.readQ {
		return errNoLease
	}
	f.mu.Lock()
	// The lease runs from when the reads were sent, less a margin for the
	// witnesses' clocks running faster than ours.
	if till := sent.Add(witnessLease - witnessLease/leaseMarginDivisor); till.After(f.leaseTill) {
		f.leaseTill = till
	}
	f.mu.Unlock()
	return nil
}

// head returns the current head of bucket b: the newest among the
// witnesses that answered within the lease (renewing it first if it ran
// out).
func (f *freshness) head(ctx context.Context, b uint32) (wproto.Head, error) {
	f.mu.Lock()
	valid := f.e.cfg.Now().Before(f.leaseTill)
	f.mu.Unlock()
	if !valid {
		if err := f.renew(ctx); err != nil {
			return wproto.Head{}, errNoLease
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	since := f.leaseTill.Add(-witnessLease) // answers older than this do not count
	var best wproto.Head
	holders, diverged := 0, false
	for i := range f.views {
		v := &f.views[i]
		if v.answer.Before(since) {
			continue
		}
		h := v.heads[b]
		switch {
		case h.Version > best.Version:
			best, diverged = h, false
		case h.Version == best.Version && !h.Equal(best):
			diverged = true
		}
		holders++
	}
	if holders < f.readQ {
		return wproto.Head{}, errNoLease
	}
	if diverged {
		return wproto.Head{}, errDiverged
	}
	return best, nil
}

// bucket returns bucket b as current: at its head, from the store,
// verified (and, if the store holds the write right after the head,
// committed).
func (f *freshness) bucket(ctx context.Context, b uint32) (*bucket, error) {
	h, err := f.head(ctx, b)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if be, ok := f.buckets.get(bucketID(b)); ok && be.b.version == h.Version && bytes.Equal(be.b.digest, h.Digest) {
		f.mu.Unlock()
		return be.b, nil
	}
	f.mu.Unlock()
	bk, err := f.load(ctx, b, h)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.buckets.put(bucketID(b), bucketEntry{bk})
	f.mu.Unlock()
	return bk, nil
}

// load reads bucket b from the store and checks it against head h.
func (f *freshness) load(ctx context.Context, b uint32, h wproto.Head) (*bucket, error) {
	l, err := f.e.link()
	if err != nil {
		return nil, storageErr(err)
	}
	obj, err := l.Get(ctx, kindIndex, bucketID(b))
	switch {
	case errors.Is(err, hostlink.ErrNotFound) && h.Version == 0:
		return emptyBucket(b), nil
	case errors.Is(err, hostlink.ErrNotFound):
		return nil, errStaleStore
	case err != nil:
		return nil, storageErr(err)
	}
	pt, err := f.indexK.Open(bucketID(b), obj.Version, obj.Blob)
	if err != nil {
		return nil, errStaleStore
	}
	bk, err := parseBucket(b, obj.Version, pt)
	if err != nil {
		return nil, err
	}
	switch {
	case bk.version == h.Version && bytes.Equal(bk.digest, h.Digest):
		return bk, nil
	case bk.version == h.Version+1 && bytes.Equal(bk.prev, h.Digest):
		// A write that reached the store and not (all) the witnesses:
		// complete it. It was made by an enclave of this cluster (the
		// store cannot seal), on top of the current head.
		if _, err := f.commit(ctx, b, h, bk.head()); err != nil {
			return nil, err
		}
		return bk, nil
	}
	f.e.log.Warn("the store's index bucket is not the one the witnesses hold", "bucket", b, "store_version", bk.version, "head_version", h.Version)
	return nil, errStaleStore
}

// commit moves bucket b's head from `from` to `to` at every witness it
// can, and returns once k hold `to`, with how long other holders' read
// leases still run.
func (f *freshness) commit(ctx context.Context, b uint32, from, to wproto.Head) (time.Duration, error) {
	type answer struct {
		i    int
		ok   bool
		wait time.Duration
	}
	answers := make(chan answer, len(f.witnesses))
	for i := range f.witnesses {
		go func() {
			ok, wait := f.advance(ctx, i, b, from, to)
			answers <- answer{i, ok, wait}
		}()
	}
	n := 0
	var wait time.Duration
	for range f.witnesses {
		a := <-answers
		if !a.ok {
			continue
		}
		n++
		wait = max(wait, a.wait)
		f.mu.Lock()
		if f.views[a.i].heads[b].Version < to.Version {
			f.views[a.i].heads[b] = to
		}
		f.mu.Unlock()
	}
	if n < f.quorum {
		return 0, errUncommitted
	}
	return wait + wait/leaseMarginDivisor, nil
}

// advance moves bucket b at witness i from `from` to `to`, bringing a
// witness that lags behind `from` up to it first (`from` is the head the
// write builds on: a quorum held it, or this write commits it).
func (f *freshness) advance(ctx context.Context, i int, b uint32, from, to wproto.Head) (bool, time.Duration) {
	for attempt := 0; attempt < 2; attempt++ {
		req, err := f.newRequest(wproto.OpAdvance)
		if err != nil {
			return false, 0
		}
		req.Bucket, req.From, req.To = b, &from, &to
		r, err := f.ask(ctx, i, req)
		if err != nil {
			return false, 0
		}
		if r.Status == wproto.StatusOK && len(r.Heads) == 1 && r.Heads[0].Head.Equal(to) {
			return true, time.Duration(r.WaitMillis) * time.Millisecond
		}
		if r.Status != wproto.StatusConflict || len(r.Heads) != 1 || r.Heads[0].Head.Version >= from.Version || attempt > 0 {
			return false, 0
		}
		set, err := f.newRequest(wproto.OpAdvance)
		if err != nil {
			return false, 0
		}
		set.Bucket, set.To = b, &from
		if r, err := f.ask(ctx, i, set); err != nil || r.Status != wproto.StatusOK {
			return false, 0
		}
	}
	return false, 0
}

// write changes bucket b: change returns the bucket's next version and
// the wallet writes that go with it, stored in one batch before the
// witnesses move the head. It returns how long other enclaves' read
// leases still run (a change that makes an older state unusable is
// acknowledged only after that).
func (f *freshness) write(ctx context.Context, b uint32, change func(cur *bucket) (*bucket, []hostlink.BatchWrite, error)) (time.Duration, error) {
	f.writers[b].Lock()
	defer f.writers[b].Unlock()
	for attempt := 0; ; attempt++ {
		cur, err := f.bucket(ctx, b)
		if err != nil {
			return 0, err
		}
		next, writes, err := change(cur)
		if err != nil {
			return 0, err
		}
		blob, err := f.indexK.Seal(bucketID(b), next.version, next.plaintext())
		if err != nil {
			return 0, err
		}
		iw := hostlink.BatchWrite{Object: &hostlink.Object{Kind: kindIndex, ID: bucketID(b), Version: next.version, Blob: blob}, Create: cur.version == 0, Prev: cur.version}
		l, err := f.e.link()
		if err != nil {
			return 0, storageErr(err)
		}
		err = l.Batch(ctx, append(writes, iw))
		if (errors.Is(err, hostlink.ErrConflict) || errors.Is(err, hostlink.ErrExists)) && attempt < maxIndexRetries {
			// Another enclave wrote the bucket: read it again.
			if rerr := f.renew(ctx); rerr != nil {
				return 0, errNoLease
			}
			continue
		}
		if err != nil {
			return 0, storageErr(err)
		}
		wait, err := f.commit(ctx, b, cur.head(), next.head())
		if err != nil {
			return 0, err
		}
		f.mu.Lock()
		f.buckets.put(bucketID(b), bucketEntry{next})
		f.mu.Unlock()
		return wait, nil
	}
}

// wipe zeroes the witness key and the index sealing key, once run has
// stopped (Serve's context ended).
func (f *freshness) wipe() {
	<-f.stopped
	clear(f.key)
	f.indexK.Wipe()
}
