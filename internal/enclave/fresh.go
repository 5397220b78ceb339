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
//   - reads every witness's committed heads in the background (only what
//     changed since its last read), checks each head's quorum certificate,
//     and holds a read lease while at least k of them answered within it;
//     with no lease it serves no wallet;
//   - serves each bucket at the newest certified head among those k
//     answers, and only if the store's bucket object is that head (or the
//     one right after it, which it then commits: a write that reached the
//     store but not the witnesses);
//   - writes a bucket by storing the new bucket and wallet objects in one
//     batch, then having k witnesses acknowledge the new head (advance)
//     and k record it as committed with those acknowledgements (confirm); a
//     policy change is acknowledged only after the other holders' leases
//     that the witnesses report have run out.
//
// So no store rollback, restart of any enclave or choice of replica makes
// a version older than an acknowledged one usable: a rolled-back bucket
// is older than the certified head, a restarted enclave reads the heads
// before it serves, a replica serves from its memory only within a lease
// that every writer waits out, and a head that k witnesses never
// acknowledged (a branch the operator grew on one witness) is never
// served. What it rests on: at most 2k-n-1 witnesses collude with the
// operator, and the enclaves' and witnesses' clocks run at about the same
// rate (leases are durations, each end measures its own; the enclave
// keeps a margin).

// errNoLease: the witnesses did not answer enough to know the index is
// current; the enclave serves no wallet until they do.
var errNoLease = &wire.RPCError{Code: wire.CodeUnavailable, Message: "the cluster's witnesses do not answer, so the enclave cannot tell which wallet versions are current; it serves none until they do"}

// errStaleStore: the store's index is not what the witnesses hold.
var errStaleStore = &wire.RPCError{Code: wire.CodeUnavailable, Message: "the store's wallet index is older than, or differs from, what the cluster's witnesses hold (the store was rolled back or edited)"}

// errDiverged: two certified heads of one version (more witnesses collude
// than the cluster tolerates).
var errDiverged = &wire.RPCError{Code: wire.CodeUnavailable, Message: "the cluster's witnesses certify two different wallet index versions; more of them collude than the cluster tolerates"}

// errIndexBusy: other writes kept moving the bucket.
var errIndexBusy = &wire.RPCError{Code: wire.CodeUnavailable, Message: "the wallet index changed under this request several times; try again"}

// errUncommitted: a write reached the store but not a quorum of
// witnesses. It may still take effect (any enclave completes it when it
// reads the bucket).
var errUncommitted = &wire.RPCError{Code: wire.CodeUnavailable, Message: "the change was stored but not confirmed by a quorum of witnesses; it may take effect later: read the wallet's policy before sending it again"}

type freshness struct {
	e         *Enclave
	witnesses []api.WitnessSpec
	keys      [][]byte // the witnesses' keys, for certificates
	quorum    int      // witnesses that acknowledge a write, and that a read lease needs (k)
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
	heads  map[uint32]certified
	answer time.Time // send time of the read it last answered in full
}

// certified is a committed head and its quorum certificate.
type certified struct {
	head wproto.Head
	qc   []wproto.Endorsement
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
	keys := make([][]byte, len(witnesses))
	for i, w := range witnesses {
		keys[i] = w.Key
	}
	f := &freshness{
		e: e, witnesses: witnesses, keys: keys, quorum: quorum,
		key: key, pub: key.Public().(ed25519.PublicKey), holder: holder, indexK: ik,
		views: make([]witnessView, len(witnesses)), buckets: newLRU[bucketEntry](indexBucketCache),
		stopped: make(chan struct{}),
	}
	for i := range f.views {
		f.views[i].heads = map[uint32]certified{}
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

// readAll reads the committed heads changed at every witness since its
// last answer, checking every certificate.
func (f *freshness) readAll(ctx context.Context) error {
	sent := f.e.cfg.Now()
	answered := make(chan bool, len(f.witnesses))
	for i := range f.witnesses {
		go func() { answered <- f.readOne(ctx, i, sent) }()
	}
	n := 0
	for range f.witnesses {
		if <-answered {
			n++
		}
	}
	if n < f.quorum {
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

// readOne reads witness i up to date (a few pages at most) and reports
// whether it answered in full, every head with a valid certificate.
func (f *freshness) readOne(ctx context.Context, i int, sent time.Time) bool {
	f.mu.Lock()
	since := f.views[i].epoch
	f.mu.Unlock()
	for page := 0; page < maxReadPages; page++ {
		req, err := f.newRequest(wproto.OpRead)
		if err != nil {
			return false
		}
		req.Since, req.LeaseMillis, req.Limit = since, uint64(witnessLease.Milliseconds()), wproto.MaxReadHeads
		r, err := f.ask(ctx, i, req)
		if err != nil || r.Status != wproto.StatusOK || r.LeaseMillis != req.LeaseMillis {
			if err != nil {
				f.e.log.Debug("witness read failed", "witness", f.witnesses[i].Name, "err", err)
			}
			return false
		}
		if r.Epoch < since {
			// A witness that went back: its state was rolled back. Its
			// answers count for nothing until it is ahead again.
			f.e.log.Warn("a witness answered with an older state than before", "witness", f.witnesses[i].Name)
			return false
		}
		for _, h := range r.Heads {
			if !wproto.VerifyQC(f.pub, h.Bucket, h.Head, h.QC, f.keys, f.quorum) {
				f.e.log.Warn("a witness answered a head without a valid quorum certificate", "witness", f.witnesses[i].Name, "bucket", h.Bucket)
				return false
			}
		}
		f.mu.Lock()
		v := &f.views[i]
		for _, h := range r.Heads {
			if h.Head.Version > v.heads[h.Bucket].head.Version {
				v.heads[h.Bucket] = f.shared(i, h)
			}
		}
		v.epoch = r.Epoch
		if !r.More {
			v.answer = sent
		}
		f.mu.Unlock()
		if !r.More {
			return true
		}
		since = r.Epoch
	}
	return false
}

// shared returns h as a certified head for view i, sharing the memory of
// another view that holds the same head: witnesses mostly agree, so the
// enclave keeps about one certificate per bucket, not one per witness
// (each is k signatures and keys). The caller holds f.mu.
func (f *freshness) shared(i int, h wproto.BucketHead) certified {
	for j := range f.views {
		if o := f.views[j].heads[h.Bucket]; j != i && o.head.Equal(h.Head) {
			return o
		}
	}
	return certified{h.Head, h.QC}
}

// head returns the current head of bucket b and its certificate: the
// newest certified head among the witnesses that answered within the
// lease (renewing it first if it ran out).
func (f *freshness) head(ctx context.Context, b uint32) (certified, error) {
	f.mu.Lock()
	valid := f.e.cfg.Now().Before(f.leaseTill)
	f.mu.Unlock()
	if !valid {
		if err := f.renew(ctx); err != nil {
			return certified{}, errNoLease
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	since := f.leaseTill.Add(-witnessLease) // answers older than this do not count
	var best certified
	holders, diverged := 0, false
	for i := range f.views {
		v := &f.views[i]
		if v.answer.Before(since) {
			continue
		}
		h := v.heads[b]
		switch {
		case h.head.Version > best.head.Version:
			best, diverged = h, false
		case h.head.Version == best.head.Version && !h.head.Equal(best.head):
			diverged = true
		}
		holders++
	}
	if holders < f.quorum {
		return certified{}, errNoLease
	}
	if diverged {
		return certified{}, errDiverged
	}
	return best, nil
}

// bucket returns bucket b as current: at its head, from the store,
// verified (and, if the store holds the write right after the head,
// committed).
func (f *freshness) bucket(ctx context.Context, b uint32) (*bucket, error) {
	bk, _, err := f.current(ctx, b)
	return bk, err
}

// current is bucket, with the bucket's certified head.
func (f *freshness) current(ctx context.Context, b uint32) (*bucket, certified, error) {
	h, err := f.head(ctx, b)
	if err != nil {
		return nil, certified{}, err
	}
	f.mu.Lock()
	if be, ok := f.buckets.get(bucketID(b)); ok && be.b.version == h.head.Version && bytes.Equal(be.b.digest, h.head.Digest) {
		f.mu.Unlock()
		return be.b, h, nil
	}
	f.mu.Unlock()
	bk, h, err := f.load(ctx, b, h)
	if err != nil {
		return nil, certified{}, err
	}
	f.mu.Lock()
	f.buckets.put(bucketID(b), bucketEntry{bk})
	f.mu.Unlock()
	return bk, h, nil
}

// load reads bucket b from the store and checks it against head ch; it
// returns the bucket and its certified head.
func (f *freshness) load(ctx context.Context, b uint32, ch certified) (*bucket, certified, error) {
	h := ch.head
	l, err := f.e.link()
	if err != nil {
		return nil, certified{}, storageErr(err)
	}
	obj, err := l.Get(ctx, kindIndex, bucketID(b))
	switch {
	case errors.Is(err, hostlink.ErrNotFound) && h.Version == 0:
		return emptyBucket(b), ch, nil
	case errors.Is(err, hostlink.ErrNotFound):
		return nil, certified{}, errStaleStore
	case err != nil:
		return nil, certified{}, storageErr(err)
	}
	pt, err := f.indexK.Open(bucketID(b), obj.Version, obj.Blob)
	if err != nil {
		return nil, certified{}, errStaleStore
	}
	bk, err := parseBucket(b, obj.Version, pt)
	if err != nil {
		return nil, certified{}, err
	}
	switch {
	case bk.version == h.Version && bytes.Equal(bk.digest, h.Digest):
		return bk, ch, nil
	case bk.version == h.Version+1 && bytes.Equal(bk.prev, h.Digest):
		// A write that reached the store and not (all) the witnesses:
		// complete it. It was made by an enclave of this cluster (the
		// store cannot seal), on top of the current head.
		next, _, err := f.commit(ctx, b, ch, bk.head())
		if err != nil {
			return nil, certified{}, err
		}
		return bk, next, nil
	}
	f.e.log.Warn("the store's index bucket is not the one the witnesses hold", "bucket", b, "store_version", bk.version, "head_version", h.Version)
	return nil, certified{}, errStaleStore
}

// commit moves bucket b from the certified head `from` to `to`: k
// witnesses acknowledge `to` (a witness behind `from` is first brought up
// to it with its certificate), then k record it as committed with those
// acknowledgements. It returns how long other holders' read leases still
// run.
func (f *freshness) commit(ctx context.Context, b uint32, from certified, to wproto.Head) (certified, time.Duration, error) {
	acks := make(chan *wproto.Endorsement, len(f.witnesses))
	for i := range f.witnesses {
		go func() { acks <- f.advance(ctx, i, b, from, to) }()
	}
	var qc []wproto.Endorsement
	for range f.witnesses {
		if a := <-acks; a != nil {
			qc = append(qc, *a)
		}
	}
	if len(qc) < f.quorum {
		return certified{}, 0, errUncommitted
	}
	confirmed := make(chan time.Duration, len(f.witnesses))
	for i := range f.witnesses {
		go func() { confirmed <- f.confirm(ctx, i, b, certified{to, qc}) }()
	}
	n := 0
	var wait time.Duration
	for range f.witnesses {
		if w := <-confirmed; w >= 0 {
			n++
			wait = max(wait, w)
		}
	}
	if n < f.quorum {
		return certified{}, 0, errUncommitted
	}
	return certified{to, qc}, wait + wait/leaseMarginDivisor, nil
}

// advance has witness i move bucket b from `from` to `to` and returns its
// acknowledgement, or nil. A witness whose committed head is behind `from`
// (it missed writes) is first brought up to `from` with its certificate.
func (f *freshness) advance(ctx context.Context, i int, b uint32, from certified, to wproto.Head) *wproto.Endorsement {
	for attempt := 0; attempt < 2; attempt++ {
		req, err := f.newRequest(wproto.OpAdvance)
		if err != nil {
			return nil
		}
		req.Bucket, req.From, req.To = b, &from.head, &to
		r, err := f.ask(ctx, i, req)
		if err != nil {
			return nil
		}
		if r.Status == wproto.StatusOK {
			if !ed25519.Verify(f.witnesses[i].Key, wproto.AckMessage(f.pub, b, to), r.Ack) {
				return nil
			}
			return &wproto.Endorsement{Witness: f.witnesses[i].Key, Signature: r.Ack}
		}
		behind := len(r.Heads) == 1 && r.Heads[0].Head.Version < from.head.Version
		if attempt > 0 || !behind || from.head.Version == 0 {
			return nil
		}
		if f.confirm(ctx, i, b, from) < 0 {
			return nil
		}
	}
	return nil
}

// confirm has witness i record the certified head c as committed, and
// returns how long other holders' leases run there (-1: no).
func (f *freshness) confirm(ctx context.Context, i int, b uint32, c certified) time.Duration {
	req, err := f.newRequest(wproto.OpConfirm)
	if err != nil {
		return -1
	}
	req.Bucket, req.To, req.QC, req.Witnesses, req.Quorum = b, &c.head, c.qc, f.keys, uint32(f.quorum)
	r, err := f.ask(ctx, i, req)
	if err != nil || r.Status != wproto.StatusOK || len(r.Heads) != 1 || r.Heads[0].Head.Version < c.head.Version {
		return -1
	}
	f.mu.Lock()
	if f.views[i].heads[b].head.Version < c.head.Version {
		f.views[i].heads[b] = c
	}
	f.mu.Unlock()
	return time.Duration(r.WaitMillis) * time.Millisecond
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
		cur, head, err := f.current(ctx, b)
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
		if errors.Is(err, hostlink.ErrConflict) || errors.Is(err, hostlink.ErrExists) {
			// The store's bucket moved on: another enclave's write, or one
			// that reached the store only. Read it from the store again
			// (which completes such a write) and start over.
			f.mu.Lock()
			f.buckets.remove(bucketID(b))
			f.mu.Unlock()
			if attempt >= maxIndexRetries {
				return 0, errIndexBusy
			}
			if rerr := f.renew(ctx); rerr != nil {
				return 0, errNoLease
			}
			continue
		}
		if err != nil {
			return 0, storageErr(err)
		}
		_, wait, err := f.commit(ctx, b, head, next.head())
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
