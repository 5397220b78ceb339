package enclave

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"math"
	"slices"
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

// errStoreAhead: the store's bucket is later than the head this
// enclave's views certify (a write elsewhere since the last read of the
// witnesses). Never returned to a client: current reads the witnesses
// again, and reports errStaleStore if they do not certify it either.
var errStoreAhead = errors.New("the store's index bucket is later than the certified head read")

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
	leaseLost bool  // the last read found fewer than quorum witnesses
	refresh   *load // single flight
	// settled are the heads known settled: committed at k witnesses and
	// every lease granted before by those k run out (but their
	// committers'). A head is served only once settled.
	settled map[uint32]wproto.Head
	// pending are the newest heads this enclave sent a confirm for (its
	// own writes, write-backs, and a witness brought up to date) and has
	// not seen settled: it never serves an older head again, since a
	// confirm it sent may yet take effect.
	pending map[uint32]certified

	writers [indexBuckets]sync.Mutex // one writer per bucket in this enclave
	buckets *lru[bucketEntry]        // verified buckets by number
	stopped chan struct{}            // closed when run returns
}

type witnessView struct {
	epoch   uint64
	heads   map[uint32]certified
	answer  time.Time // send time of the read it last answered in full
	reading bool      // a read of this witness runs
}

// certified is a committed head and its quorum certificate.
type certified struct {
	head wproto.Head
	qc   []wproto.Endorsement
	// settleAt, in a witness's view: when (by this enclave's clock, with
	// the margin) every read lease that witness granted before it
	// committed head has run out, but the committer's. Zero: already.
	settleAt time.Time
}

type bucketEntry struct{ b *bucket }

func (bucketEntry) wipe() {}

// size is about the memory a cached bucket holds: its entries, digests
// and bookkeeping.
func (e bucketEntry) size() int { return cap(e.b.entries) + bucketOverhead }

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
		views: make([]witnessView, len(witnesses)), buckets: newSizedLRU(indexBuckets, indexCacheBytes, bucketEntry.size),
		settled: map[uint32]wproto.Head{}, pending: map[uint32]certified{},
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

// renewFor renews the lease for a request: a read that found fewer than
// k witnesses answering in time (slow for a moment, or the enclave just
// booted) is tried again, up to leaseAttempts reads within the request.
func (f *freshness) renewFor(ctx context.Context) error {
	err := f.renew(ctx)
	for attempt := 1; attempt < leaseAttempts && err != nil; attempt++ {
		t := time.NewTimer(leaseRetryDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		err = f.renew(ctx)
	}
	return err
}

// readAll reads the committed heads changed at every witness since its
// last answer, checking every certificate.
//
// It returns once k witnesses answered in full, or every read ended: a
// slow witness (each read of one is bounded by witnessTimeout, all its
// pages together) does not hold the lease back, and is not read again
// while a read of it runs.
func (f *freshness) readAll(ctx context.Context) error {
	sent := f.e.cfg.Now()
	answered := make(chan bool, len(f.witnesses))
	started := 0
	for i := range f.witnesses {
		f.mu.Lock()
		busy := f.views[i].reading
		f.views[i].reading = true
		f.mu.Unlock()
		if busy {
			continue
		}
		started++
		go func() {
			ok := f.readOne(ctx, i, sent)
			f.mu.Lock()
			f.views[i].reading = false
			f.mu.Unlock()
			answered <- ok
		}()
	}
	n := 0
	for done := 0; done < started && n < f.quorum; done++ {
		if <-answered {
			n++
		}
	}
	lost := n < f.quorum
	f.mu.Lock()
	was := f.leaseLost
	f.leaseLost = lost
	f.mu.Unlock()
	switch {
	case lost && !was:
		f.e.log.Warn("too few witnesses answered: no wallet is served until enough do", "answered", n, "quorum", f.quorum)
	case was && !lost:
		f.e.log.Info("enough witnesses answer again", "answered", n, "quorum", f.quorum)
	}
	if lost {
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
	ctx, cancel := context.WithTimeout(ctx, witnessTimeout)
	defer cancel()
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
		recv := f.e.cfg.Now()
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
		checked, ok := f.verifyPage(i, r.Heads)
		if !ok || !f.take(i, r, checked, sent, recv) {
			return false
		}
		if !r.More {
			return true
		}
		since = r.Epoch
	}
	return false
}

// take has view i take a page witness i answered (read at sent, received
// at recv), whose heads verifyPage checked as checked says.
func (f *freshness) take(i int, r *wproto.Response, checked []bool, sent, recv time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := &f.views[i]
	for j, h := range r.Heads {
		if !v.heads[h.Bucket].head.Before(h.Head) {
			continue
		}
		c, known := f.shared(i, h)
		if !known && !checked[j] && !wproto.VerifyQC(f.pub, h.Bucket, h.Head, h.QC, f.keys, f.quorum) {
			// Another view held this head when the page was checked and
			// has moved on since (a concurrent read): the witness's own
			// certificate is what would be kept, so it is checked now.
			f.e.log.Warn("a witness answered a head without a valid quorum certificate", "witness", f.witnesses[i].Name, "bucket", h.Bucket)
			return false
		}
		if h.SettleMillis > 0 {
			c.settleAt = recv.Add(withMargin(time.Duration(h.SettleMillis) * time.Millisecond))
		}
		v.heads[h.Bucket] = c
	}
	v.epoch = r.Epoch
	if !r.More {
		v.answer = sent
	}
	return true
}

// verifyPage checks the certificates of a page of heads witness i
// answered, each bucket at most once: only those of heads newer than what
// view i holds and that no other view holds (those were checked when a
// view took them). A witness repeating heads it sent before, or that the
// others sent, costs the enclave no signature check. It reports which
// heads it checked.
func (f *freshness) verifyPage(i int, heads []wproto.BucketHead) (checked []bool, ok bool) {
	check := make([]bool, len(heads))
	seen := make(map[uint32]bool, len(heads))
	f.mu.Lock()
	for j, h := range heads {
		if seen[h.Bucket] {
			f.mu.Unlock()
			f.e.log.Warn("a witness answered one bucket twice in a page", "witness", f.witnesses[i].Name, "bucket", h.Bucket)
			return nil, false
		}
		seen[h.Bucket] = true
		if !f.views[i].heads[h.Bucket].head.Before(h.Head) {
			continue
		}
		known := false
		for k := range f.views {
			known = known || (k != i && f.views[k].heads[h.Bucket].head.Equal(h.Head))
		}
		check[j] = !known
	}
	f.mu.Unlock()
	for j, h := range heads {
		if check[j] && !wproto.VerifyQC(f.pub, h.Bucket, h.Head, h.QC, f.keys, f.quorum) {
			f.e.log.Warn("a witness answered a head without a valid quorum certificate", "witness", f.witnesses[i].Name, "bucket", h.Bucket)
			return nil, false
		}
	}
	return check, true
}

// shared returns h as a certified head for view i, sharing the memory of
// another view that holds the same head: witnesses mostly agree, so the
// enclave keeps about one certificate per bucket, not one per witness
// (each is up to n signatures and keys). known reports another view
// holding it. The caller holds f.mu.
func (f *freshness) shared(i int, h wproto.BucketHead) (c certified, known bool) {
	for j := range f.views {
		if o := f.views[j].heads[h.Bucket]; j != i && o.head.Equal(h.Head) {
			return certified{head: o.head, qc: o.qc}, true
		}
	}
	return certified{head: h.Head, qc: h.QC}, false
}

// withMargin is d and the margin kept on every lease and wait.
func withMargin(d time.Duration) time.Duration { return d + d/leaseMarginDivisor }

// head returns the current head of bucket b and its certificate: the
// newest certified head among the witnesses that answered within the
// lease (renewing it first if it ran out).
func (f *freshness) head(ctx context.Context, b uint32) (certified, error) {
	f.mu.Lock()
	valid := f.e.cfg.Now().Before(f.leaseTill)
	f.mu.Unlock()
	if !valid {
		if err := f.renewFor(ctx); err != nil {
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
		case best.head.Before(h.head):
			best, diverged = h, false
		case !h.head.Before(best.head) && !h.head.Equal(best.head):
			diverged = true // two certified heads of one version and ballot
		}
		holders++
	}
	if holders < f.quorum {
		return certified{}, errNoLease
	}
	if p, ok := f.pending[b]; ok {
		switch {
		case best.head.Before(p.head):
			best, diverged = p, false
		case !p.head.Before(best.head) && !p.head.Equal(best.head):
			diverged = true
		}
	}
	if diverged {
		return certified{}, errDiverged
	}
	return best, nil
}

// settle returns once head h of bucket b is settled (see
// freshness.settled): at once if it is known to be; after the leases the
// witnesses reported when k of them hold it committed; otherwise after
// having every witness commit it (a write-back: k must) and waiting out
// the leases they report. A head committed at fewer than k witnesses, or
// whose older leases still run, is never served: an enclave that read
// other witnesses could still be serving the head before it. Its caller
// takes the head again afterwards (see bucket).
func (f *freshness) settle(ctx context.Context, b uint32, h certified) error {
	if h.head.Version == 0 {
		return nil
	}
	f.mu.Lock()
	known, until, committed := f.settledAt(b, h.head)
	f.mu.Unlock()
	if known {
		return nil
	}
	if !committed {
		wait, err := f.confirmAll(ctx, b, h)
		if err == errUncommitted {
			return errUnconfirmedHead
		} else if err != nil {
			return err
		}
		until = f.e.cfg.Now().Add(wait)
	}
	if d := until.Sub(f.e.cfg.Now()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return errUnsettled
		}
	}
	f.markSettled(b, h.head)
	return nil
}

// errUnconfirmedHead: the newest state of the wallet's index bucket is
// held committed by fewer than k witnesses, and writing it back to them
// failed.
var errUnconfirmedHead = &wire.RPCError{Code: wire.CodeUnavailable, Message: "the wallet's newest state is not yet confirmed by a quorum of the cluster's witnesses; it serves neither that state nor an older one until it is"}

// errUnsettled: the request ended while the bucket's newest head settled.
var errUnsettled = &wire.RPCError{Code: wire.CodeUnavailable, Message: "the wallet changed moments ago and other enclaves may still serve the state before; try again in a few seconds"}

// markSettled records h as bucket b's settled head.
func (f *freshness) markSettled(b uint32, h wproto.Head) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.settled[b]; !ok || s.Before(h) {
		f.settled[b] = h
	}
	if p, ok := f.pending[b]; ok && !h.Before(p.head) {
		delete(f.pending, b)
	}
}

// isSettled reports whether h is bucket b's settled head, or k views
// hold it committed and settled by now.
func (f *freshness) isSettled(b uint32, h wproto.Head) bool {
	if h.Version == 0 {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	known, until, committed := f.settledAt(b, h)
	return known || (committed && !until.After(f.e.cfg.Now()))
}

// settledAt reports whether h is known as bucket b's settled head, and
// otherwise, when k views hold it committed, when it settles there (the
// k-th soonest of their times). The caller holds f.mu.
func (f *freshness) settledAt(b uint32, h wproto.Head) (known bool, until time.Time, committed bool) {
	if s, ok := f.settled[b]; ok && s.Equal(h) {
		return true, time.Time{}, true
	}
	var at []time.Time
	for i := range f.views {
		if v := f.views[i].heads[b]; v.head.Equal(h) {
			at = append(at, v.settleAt)
		}
	}
	if len(at) < f.quorum {
		return false, time.Time{}, false
	}
	slices.SortFunc(at, func(x, y time.Time) int { return x.Compare(y) })
	return false, at[f.quorum-1], true
}

// warm reports whether bucket b is most likely current without a read of
// the witnesses or the store: under a lease, cached and settled. It is a
// hint for scheduling only; bucket checks everything.
func (f *freshness) warm(b uint32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	be, cached := f.buckets.get(bucketID(b))
	s, settled := f.settled[b]
	return cached && settled && f.e.cfg.Now().Before(f.leaseTill) && be.b.version == s.Version && bytes.Equal(be.b.digest, s.Digest)
}

// bucket returns bucket b as current for oid: at its head, from the store,
// verified (and, if the store holds the write right after the head,
// committed), once that head is settled; or, when a newer head came
// meanwhile that lists oid alike, at the settled head.
func (f *freshness) bucket(ctx context.Context, b uint32, oid string) (*bucket, error) {
	for attempt := 0; ; attempt++ {
		bk, h, err := f.settledBucket(ctx, b)
		if err != nil {
			return nil, err
		}
		// Getting there may have taken a while: a store read the runner
		// held back, witness round trips, a wait for other replicas'
		// leases. Meanwhile this enclave's lease may have run out, and a
		// newer head (a revocation on another replica) come. The bucket
		// is served only if its head is still the newest, under a lease
		// now (when the lease is still valid, this costs a lock).
		cur, err := f.head(ctx, b)
		if err != nil {
			return nil, err
		}
		if cur.head.Equal(h.head) {
			return bk, nil
		}
		// The head moved (a write elsewhere, perhaps another wallet's).
		// The newest head under a lease holds every change acknowledged
		// so far: if its entry for oid is bk's, bk is as fresh for this
		// wallet, and writes to its neighbours cannot keep it waiting.
		// The head is taken again after that bucket is read, since the
		// read may have been held back too.
		nb, nh, err := f.current(ctx, b)
		if err != nil {
			return nil, err
		}
		again, err := f.head(ctx, b)
		if err != nil {
			return nil, err
		}
		if again.head.Equal(nh.head) && sameEntry(bk, nb, oid) {
			return bk, nil
		}
		if attempt == maxSettleRereads {
			return nil, errIndexBusy
		}
	}
}

// sameEntry reports whether buckets x and y list oid alike: with the same
// entry, or not at all.
func sameEntry(x, y *bucket, oid string) bool {
	ex, okx := x.lookup(oid)
	ey, oky := y.lookup(oid)
	return okx == oky && ex.equal(ey)
}

// settledBucket is bucket b at its current head, once that head is
// settled, with that head.
func (f *freshness) settledBucket(ctx context.Context, b uint32) (*bucket, certified, error) {
	bk, h, err := f.current(ctx, b)
	if err != nil {
		return nil, certified{}, err
	}
	err = f.settle(ctx, b, h)
	if err == nil {
		return bk, h, nil
	}
	if err != errUnconfirmedHead {
		return nil, certified{}, err
	}
	// The witnesses refused to commit h (they acknowledged a later head
	// of its version, whose write did not complete): propose its content
	// again, at a ballot past theirs.
	c, rerr := f.repropose(ctx, b, bk)
	if rerr != nil {
		return nil, certified{}, err
	}
	if err := f.settle(ctx, b, c); err != nil {
		return nil, certified{}, err
	}
	return bk, c, nil
}

// repropose commits bucket bk, a write of this cluster that the store
// holds, at a ballot past the heads of its version the witnesses hold,
// on its base (a certified head one of the enclave's views holds). Safe
// whatever bk is: no head of its version was committed at k witnesses
// (those refuse a write on an older head), so none was ever served, and
// bk builds on its base like any write.
func (f *freshness) repropose(ctx context.Context, b uint32, bk *bucket) (certified, error) {
	base, ok := f.baseOf(b, bk)
	if !ok {
		return certified{}, errUnconfirmedHead
	}
	c, _, err := f.commitStored(ctx, b, base, bk)
	if err == nil {
		f.e.log.Info("an index write was proposed again at a higher ballot", "bucket", b, "version", c.head.Version, "ballot", c.head.Ballot)
	}
	return c, err
}

// baseOf finds the certified head bk was written on, in the views: of
// the heads of that content (a write proposed again holds it at several
// ballots), the latest, which witnesses that committed it accept.
func (f *freshness) baseOf(b uint32, bk *bucket) (certified, bool) {
	if bk.version == 1 {
		return certified{}, bk.prev == nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var base certified
	found := false
	for i := range f.views {
		if h := f.views[i].heads[b]; h.head.Version == bk.version-1 && bytes.Equal(h.head.Digest, bk.prev) && (!found || base.head.Before(h.head)) {
			base, found = h, true
		}
	}
	return base, found
}

// forget drops bucket b from the cache: the next use reads it from the
// store.
func (f *freshness) forget(b uint32) {
	f.mu.Lock()
	f.buckets.remove(bucketID(b))
	f.mu.Unlock()
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
	for reread := 0; errors.Is(err, errStoreAhead) && reread < maxAheadRereads; reread++ {
		// The store holds a later version than this enclave's views: a
		// replica's writes outran the background reads (a bucket written
		// twice within one refresh). Read the witnesses now, and check
		// the store against what they certify.
		if err := f.renew(ctx); err != nil {
			return nil, certified{}, errNoLease
		}
		if h, err = f.head(ctx, b); err != nil {
			return nil, certified{}, err
		}
		bk, h, err = f.load(ctx, b, h)
	}
	if errors.Is(err, errStoreAhead) {
		err = errStaleStore
	}
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
		next, _, err := f.commitStored(ctx, b, ch, bk)
		if err != nil {
			return nil, certified{}, err
		}
		return bk, next, nil
	case bk.version == h.Version && bk.version > 0, bk.version == h.Version+1:
		// Another write of the head's version, or a write of the next
		// version on another certified head of the head's version (one
		// the views hold, older than the newest). If the newest head was
		// never committed at k witnesses (never served), the store's
		// write is completed instead, on its own base and at a ballot
		// past the witnesses' heads of its version; the witnesses refuse
		// it otherwise. Without this, heads no quorum committed could
		// keep a bucket from ever being served again.
		if c, err := f.repropose(ctx, b, bk); err == nil {
			return bk, c, nil
		}
	}
	if bk.version > h.Version {
		return nil, certified{}, errStoreAhead
	}
	f.e.log.Warn("the store's index bucket is not the one the witnesses hold", "bucket", b, "store_version", bk.version, "head_version", h.Version)
	return nil, certified{}, errStaleStore
}

// commit moves bucket b from the certified head `from` to `to`: k
// witnesses acknowledge `to` (a witness behind `from` is first brought up
// to it with its certificate), then k record it as committed with those
// acknowledgements. It returns how long other holders' read leases still
// run.
//
// When fewer than k acknowledge, retry is the ballot to try again at
// (retryBallot).
func (f *freshness) commit(ctx context.Context, b uint32, from certified, to wproto.Head) (_ certified, wait time.Duration, retry uint64, _ error) {
	type answer struct {
		ack *wproto.Endorsement
		cur *wproto.Head // the witness's current head; nil: no answer
	}
	answers := make(chan answer, len(f.witnesses))
	for i := range f.witnesses {
		go func() {
			ack, cur := f.advance(ctx, i, b, from, to)
			answers <- answer{ack, cur}
		}()
	}
	var qc []wproto.Endorsement
	var currents []wproto.Head
	for range f.witnesses {
		a := <-answers
		if a.ack != nil {
			qc = append(qc, *a.ack)
		}
		if a.cur != nil {
			currents = append(currents, *a.cur)
		}
	}
	if len(qc) < f.quorum {
		return certified{}, 0, retryBallot(to, currents, f.quorum), errUncommitted
	}
	c := certified{head: to, qc: qc}
	wait, err := f.confirmAll(ctx, b, c)
	if err != nil {
		return certified{}, 0, 0, err
	}
	return c, wait, 0, nil
}

// retryBallot is the ballot at which a write of to, which fewer than
// quorum witnesses acknowledged, is tried again, from the current heads
// of the witnesses that answered: past the heads of to's version they
// acknowledged since (writes no quorum took). 0: none (fewer than quorum
// answered, or they hold heads of a newer version, or no ballot is left).
//
// Each witness acknowledges the ballots of to's version from need up to
// most (wproto.MaxBallotStep past its own). The retry aims at the
// quorum-th lowest need, but no further than the lowest-need witnesses of
// those quorum accept: a ballot only a colluding witness's answer asks
// for moves honest ones up a step at a time, and a later retry goes on
// from there.
func retryBallot(to wproto.Head, currents []wproto.Head, quorum int) uint64 {
	type window struct{ need, most uint64 }
	var ws []window
	for _, cur := range currents {
		switch {
		case cur.Version < to.Version:
			ws = append(ws, window{0, wproto.MaxBallotStep})
		case cur.Version == to.Version && cur.Ballot < math.MaxInt64:
			ws = append(ws, window{cur.Ballot + 1, cur.Ballot + wproto.MaxBallotStep})
		default:
			ws = append(ws, window{math.MaxUint64, 0})
		}
	}
	if len(ws) < quorum {
		return 0
	}
	slices.SortFunc(ws, func(x, y window) int { return cmp.Compare(x.need, y.need) })
	n := ws[quorum-1].need
	for _, w := range ws[:quorum] {
		n = min(n, w.most)
	}
	if n > to.Ballot && n <= math.MaxInt64 {
		return n
	}
	return 0
}

// commitStored commits bucket bk, which the store holds on top of head
// from. When the witnesses hold heads of bk's version that no quorum took
// (writes that did not complete, perhaps the operator's, one witness
// each), it tries again at a ballot past them: no such heads can keep a
// bucket from changing.
func (f *freshness) commitStored(ctx context.Context, b uint32, from certified, bk *bucket) (certified, time.Duration, error) {
	to := bk.head()
	for attempt := 0; ; attempt++ {
		c, wait, retry, err := f.commit(ctx, b, from, to)
		if err == nil || retry <= to.Ballot || attempt == maxBallotRetries {
			return c, wait, err
		}
		f.e.log.Info("an index write tries again at a higher ballot", "bucket", b, "version", to.Version, "ballot", retry)
		to.Ballot = retry
	}
}

// confirmAll has every witness record c as bucket b's committed head and
// returns, once k have, how long the read leases they report still run
// (with the margin).
func (f *freshness) confirmAll(ctx context.Context, b uint32, c certified) (time.Duration, error) {
	confirmed := make(chan time.Duration, len(f.witnesses))
	for i := range f.witnesses {
		go func() { confirmed <- f.confirm(ctx, i, b, c) }()
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
		return 0, errUncommitted
	}
	return withMargin(wait), nil
}

// advance has witness i move bucket b from `from` to `to` and returns its
// acknowledgement (or nil) and its current head (to, if it acknowledged;
// nil if it did not answer). A witness whose committed
// head is behind `from` (it missed writes) is first brought up to `from`
// with its certificate.
func (f *freshness) advance(ctx context.Context, i int, b uint32, from certified, to wproto.Head) (*wproto.Endorsement, *wproto.Head) {
	for attempt := 0; attempt < 2; attempt++ {
		req, err := f.newRequest(wproto.OpAdvance)
		if err != nil {
			return nil, nil
		}
		req.Bucket, req.From, req.To = b, &from.head, &to
		if from.head.Version > 0 { // its certificate, for a witness that has not committed it
			req.QC, req.Witnesses, req.Quorum = from.qc, f.keys, uint32(f.quorum)
		}
		r, err := f.ask(ctx, i, req)
		if err != nil {
			return nil, nil
		}
		if r.Status == wproto.StatusOK {
			if !ed25519.Verify(f.witnesses[i].Key, wproto.AckMessage(f.pub, b, to), r.Ack) {
				return nil, nil
			}
			return &wproto.Endorsement{Witness: f.witnesses[i].Key, Signature: r.Ack}, &to
		}
		cur := r.Current
		behind := len(r.Heads) == 1 && r.Heads[0].Head.Before(from.head)
		if attempt > 0 || !behind || from.head.Version == 0 {
			return nil, cur
		}
		if f.confirm(ctx, i, b, from) < 0 {
			return nil, cur
		}
	}
	return nil, nil
}

// confirm has witness i record the certified head c as committed, and
// returns how long other holders' leases run there (-1: no).
func (f *freshness) confirm(ctx context.Context, i int, b uint32, c certified) time.Duration {
	req, err := f.newRequest(wproto.OpConfirm)
	if err != nil {
		return -1
	}
	// From here this confirm may take effect at any time (relayed late,
	// or replayed), and the witness then counts no lease of this enclave
	// against c settling: this enclave serves nothing older than c again.
	f.mu.Lock()
	if p, ok := f.pending[b]; !ok || p.head.Before(c.head) {
		f.pending[b] = c
	}
	f.mu.Unlock()
	req.Bucket, req.To, req.QC, req.Witnesses, req.Quorum = b, &c.head, c.qc, f.keys, uint32(f.quorum)
	// Confirmed means committed there now: a witness that committed
	// another head (a newer one, or one that stepped over c) did not.
	r, err := f.ask(ctx, i, req)
	if err != nil || r.Status != wproto.StatusOK || len(r.Heads) != 1 || !r.Heads[0].Head.Equal(c.head) {
		return -1
	}
	wait := time.Duration(r.WaitMillis) * time.Millisecond
	f.mu.Lock()
	if f.views[i].heads[b].head.Before(c.head) {
		v := certified{head: c.head, qc: c.qc}
		if wait > 0 {
			v.settleAt = f.e.cfg.Now().Add(withMargin(wait))
		}
		f.views[i].heads[b] = v
	}
	f.mu.Unlock()
	return wait
}

// write changes bucket b: change returns the bucket's next version and
// the wallet writes that go with it, stored in one batch before the
// witnesses move the head. It returns how long other enclaves' read
// leases still run (a change that makes an older state unusable is
// acknowledged only after that). adds says the change only adds a wallet:
// the state before it is then as good as the new one for every wallet the
// bucket held (the new one is merely "not found" there), so the new head
// counts as settled here when the one it builds on was.
func (f *freshness) write(ctx context.Context, b uint32, adds bool, change func(cur *bucket) (*bucket, []hostlink.BatchWrite, error)) (time.Duration, error) {
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
			f.forget(b)
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
		settledBase := adds && f.isSettled(b, head.head)
		c, wait, err := f.commitStored(ctx, b, head, next)
		if err != nil {
			return 0, err
		}
		if settledBase {
			f.markSettled(b, c.head)
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
