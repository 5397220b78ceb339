// Package witness is a freshness witness for secretd clusters: a small
// daemon that an independent party runs. For each cluster it keeps, for
// every bucket of the cluster's wallet index, a current head (moved by a
// compare-and-swap when the cluster's key asks, with an acknowledgement it
// signs) and a committed head (recorded only with a quorum certificate,
// and only forward), records read leases, and signs every answer. It
// never sees a wallet, a key or an oid. See package wproto for the
// protocol and why.
//
// State is a SQLite database (synchronous, so an acknowledged head
// survives a power loss). Leases live in memory; the database keeps a
// horizon past every lease granted, so a witness that restarts reports to
// writers that leases may run until then.
package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/niomon/niomon/internal/sqldb"
	"github.com/niomon/niomon/internal/store"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/internal/witness/wproto"
)

// Limits of the daemon.
const (
	// maxHoldersPerCluster bounds the lease holders remembered per
	// cluster; beyond it the witness keeps the longest lease only, under
	// no holder (every writer then waits it out).
	maxHoldersPerCluster = 256
	// ioTimeout bounds one request on a connection.
	ioTimeout = 10 * time.Second
	// maxConns bounds the connections served at once. A connection past
	// it replaces the one that has waited longest for its next request
	// (idle, or sending one slowly): whoever opens connections and sends
	// nothing cannot keep a runner out.
	maxConns = 256
)

// KeyFile is the witness key's file in its data directory.
const KeyFile = "witness.key"

// Config configures a witness.
type Config struct {
	// Data is the directory of the key and the database.
	Data string
	// Clusters, when set, are the only cluster keys served.
	Clusters [][]byte
	Log      *slog.Logger
	Now      func() time.Time
}

// Witness is a running witness.
type Witness struct {
	cfg Config
	key ed25519.PrivateKey
	db  *sqldb.DB
	log *slog.Logger

	mu      sync.Mutex
	leases  map[string]map[string]time.Time // cluster → holder → until
	horizon time.Time                       // no lease granted runs past it (persisted)
	before  time.Time                       // the horizon stored when this process started
}

// Open loads (or makes) the witness key in cfg.Data and opens its state.
func Open(ctx context.Context, cfg Config) (*Witness, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := store.PrivateDir(cfg.Data); err != nil {
		return nil, err
	}
	key, err := loadOrCreateKey(filepath.Join(cfg.Data, KeyFile))
	if err != nil {
		return nil, err
	}
	db, err := sqldb.Open(ctx, sqldb.Config{SQLitePath: filepath.Join(cfg.Data, "witness.db")})
	if err != nil {
		return nil, err
	}
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS clusters (cluster BLOB PRIMARY KEY, epoch INTEGER NOT NULL) STRICT`,
		`CREATE TABLE IF NOT EXISTS heads (cluster BLOB NOT NULL, bucket INTEGER NOT NULL,
			cur_version INTEGER NOT NULL, cur_digest BLOB, com_version INTEGER NOT NULL, com_digest BLOB, com_qc BLOB,
			changed INTEGER NOT NULL, settle_ms INTEGER NOT NULL DEFAULT 0, bar INTEGER NOT NULL DEFAULT 0,
			cur_ballot INTEGER NOT NULL DEFAULT 0, com_ballot INTEGER NOT NULL DEFAULT 0, bar_ballot INTEGER NOT NULL DEFAULT 0,
			PRIMARY KEY (cluster, bucket)) STRICT`,
		`CREATE INDEX IF NOT EXISTS heads_changed ON heads (cluster, changed)`,
		`CREATE TABLE IF NOT EXISTS horizon (id INTEGER PRIMARY KEY CHECK (id = 1), until_ms INTEGER NOT NULL) STRICT`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			return nil, fmt.Errorf("witness: schema: %w", err)
		}
	}
	// Databases made before heads had a settle time (their heads count as
	// settled: their leases ran out long ago), a bar (none was set) or
	// ballots (every head was at ballot 0).
	for _, q := range []string{
		`ALTER TABLE heads ADD COLUMN settle_ms INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE heads ADD COLUMN bar INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE heads ADD COLUMN cur_ballot INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE heads ADD COLUMN com_ballot INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE heads ADD COLUMN bar_ballot INTEGER NOT NULL DEFAULT 0`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil && !strings.Contains(err.Error(), "duplicate column") {
			db.Close()
			return nil, fmt.Errorf("witness: schema: %w", err)
		}
	}
	w := &Witness{cfg: cfg, key: key, db: db, log: cfg.Log, leases: map[string]map[string]time.Time{}}
	var ms int64
	switch err := db.QueryRowContext(ctx, `SELECT until_ms FROM horizon WHERE id = 1`).Scan(&ms); {
	case err == nil:
		w.before = time.UnixMilli(ms)
	case !errors.Is(err, sql.ErrNoRows):
		db.Close()
		return nil, err
	}
	return w, nil
}

// Close closes the witness's database.
func (w *Witness) Close() error { return w.db.Close() }

// PublicKey is the witness's key, which a genesis fixes.
func (w *Witness) PublicKey() ed25519.PublicKey { return w.key.Public().(ed25519.PublicKey) }

func loadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(lastLine(string(b))))
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("%s is not a witness key file", path)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	text := "# secretd witness key (Ed25519 seed). Keep it secret: it speaks for this witness.\n" + base64.StdEncoding.EncodeToString(seed) + "\n"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// Serve answers connections on ln until ctx ends. Each connection carries
// requests and answers, each a 4-byte big-endian length and the message.
func (w *Witness) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var cs conns
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		st := cs.add(c)
		wg.Add(1)
		go func() {
			defer func() { cs.remove(st); wg.Done(); c.Close() }()
			stopConn := context.AfterFunc(ctx, func() { c.Close() })
			defer stopConn()
			for {
				_ = c.SetDeadline(time.Now().Add(ioTimeout))
				req, err := readMessage(c, wproto.MaxRequest)
				if err != nil {
					return
				}
				cs.busy(st, true)
				err = WriteMessage(c, w.Handle(ctx, req))
				cs.busy(st, false)
				if err != nil {
					return
				}
			}
		}()
	}
}

// conns are the connections a witness serves.
type conns struct {
	mu  sync.Mutex
	all map[*connState]bool
}

type connState struct {
	c       net.Conn
	waiting time.Time // since when it waits for its next request; zero while one is handled
}

// add lists c, first closing the connection that has waited longest for
// a request when maxConns are listed.
func (cs *conns) add(c net.Conn) *connState {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.all == nil {
		cs.all = map[*connState]bool{}
	}
	if len(cs.all) >= maxConns {
		var oldest *connState
		for st := range cs.all {
			if !st.waiting.IsZero() && (oldest == nil || st.waiting.Before(oldest.waiting)) {
				oldest = st
			}
		}
		if oldest != nil {
			oldest.c.Close()
			delete(cs.all, oldest)
		}
	}
	st := &connState{c: c, waiting: time.Now()}
	cs.all[st] = true
	return st
}

func (cs *conns) busy(st *connState, busy bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if busy {
		st.waiting = time.Time{}
	} else {
		st.waiting = time.Now()
	}
}

func (cs *conns) remove(st *connState) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.all, st)
}

// ReadMessage reads one length-prefixed message (an answer: at most
// wproto.MaxMessage bytes).
func ReadMessage(r io.Reader) ([]byte, error) { return readMessage(r, wproto.MaxMessage) }

func readMessage(r io.Reader, limit uint32) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > limit {
		return nil, fmt.Errorf("witness: message of %d bytes exceeds %d", n, limit)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

// WriteMessage writes one length-prefixed message with a single write.
func WriteMessage(wr io.Writer, b []byte) error {
	_, err := wr.Write(append(binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b))), b...))
	return err
}

// InfoRequest asks a witness for its public key, unsigned: for setting up
// dev clusters, which trust it. Production genesis statements take the
// key from the witness's operator.
const InfoRequest = "niomon/secretd/v2/witness-info"

// Handle answers one signed request; an invalid one gets an empty answer
// (which no enclave accepts).
func (w *Witness) Handle(ctx context.Context, b []byte) []byte {
	if string(b) == InfoRequest {
		return w.PublicKey()
	}
	req, err := wproto.OpenRequest(b)
	if err != nil {
		return nil
	}
	if len(w.cfg.Clusters) > 0 && !w.serves(req.Cluster) {
		return nil
	}
	resp, err := w.handle(ctx, req)
	if err != nil {
		w.log.Error("witness request failed", "op", req.Op, "err", err)
		return nil
	}
	if resp == nil {
		return nil
	}
	out, err := wproto.SignResponse(w.key, resp)
	if err != nil {
		return nil
	}
	return out
}

// withinStep reports whether to's ballot is at most wproto.MaxBallotStep
// past cur's (of the same version; past 0 otherwise).
func withinStep(cur, to wproto.Head) bool {
	var base uint64
	if cur.Version == to.Version {
		base = cur.Ballot
	}
	return to.Ballot <= base+wproto.MaxBallotStep
}

// base reports whether an advance builds on a head this witness may
// build on: its committed head, or a newer head the request shows
// certified (a commit this witness missed, or could not make because of
// its bar). Never on an older one.
func (w *Witness) base(req *wproto.Request, st *bucketState) bool {
	if st.com.Equal(*req.From) {
		return true
	}
	return st.com.Before(*req.From) && wproto.VerifyQC(req.Cluster, req.Bucket, *req.From, req.QC, req.Witnesses, int(req.Quorum))
}

func (w *Witness) serves(cluster []byte) bool {
	for _, c := range w.cfg.Clusters {
		if bytes.Equal(c, cluster) {
			return true
		}
	}
	return false
}

func (w *Witness) handle(ctx context.Context, req *wproto.Request) (*wproto.Response, error) {
	// One request at a time: each is a few rows, and a head moves under
	// this lock only, so answers are linearizable.
	w.mu.Lock()
	defer w.mu.Unlock()
	resp := &wproto.Response{Op: req.Op, Witness: w.PublicKey(), Cluster: req.Cluster, Nonce: req.Nonce, Status: wproto.StatusOK}
	now := w.cfg.Now()
	switch req.Op {
	case wproto.OpRead:
		limit := int(req.Limit)
		if limit == 0 || limit > wproto.MaxReadHeads {
			limit = wproto.MaxReadHeads
		}
		epoch, heads, more, err := w.readSince(ctx, req.Cluster, req.Since, limit)
		if err != nil {
			return nil, err
		}
		until := now.Add(time.Duration(req.LeaseMillis) * time.Millisecond)
		if err := w.extendHorizon(ctx, until); err != nil {
			return nil, err
		}
		w.lease(req.Cluster, req.Holder, until)
		resp.Epoch, resp.Heads, resp.More, resp.LeaseMillis = epoch, heads, more, req.LeaseMillis
	case wproto.OpAdvance:
		st, err := w.bucket(ctx, req.Cluster, req.Bucket)
		if err != nil {
			return nil, err
		}
		switch {
		case st.cur.Equal(*req.To): // a retry of a change this witness holds
		case st.cur.Before(*req.To) && withinStep(st.cur, *req.To) && w.base(req, st):
			// One head per version and ballot, in order (a higher ballot
			// steps over heads of its version no quorum took, if any);
			// and from now on no head before this one is committed here
			// (bar): a head stepped over may be certified too, and
			// committing it after this write could leave two certified
			// heads that do not build on each other.
			if st.bar.Before(*req.To) {
				st.bar = wproto.Head{Version: req.To.Version, Ballot: req.To.Ballot}
			}
			st.cur = *req.To
			if err := w.save(ctx, req.Cluster, req.Bucket, st, false); err != nil {
				return nil, err
			}
		default:
			resp.Status = wproto.StatusConflict
			resp.Current, resp.Heads = &st.cur, []wproto.BucketHead{st.committed(req.Bucket)}
			return resp, nil
		}
		resp.Current = req.To
		resp.Ack = wproto.Acknowledge(w.key, req.Cluster, req.Bucket, *req.To)
	case wproto.OpConfirm:
		if !wproto.VerifyQC(req.Cluster, req.Bucket, *req.To, req.QC, req.Witnesses, int(req.Quorum)) {
			return nil, nil // an answer to a certificate that does not verify would help no one
		}
		st, err := w.bucket(ctx, req.Cluster, req.Bucket)
		if err != nil {
			return nil, err
		}
		if st.com.Before(*req.To) && !req.To.Before(st.bar) {
			st.com, st.qc = *req.To, req.QC
			// Every lease granted before this commit, except the committing
			// enclave's (it serves this head from now on), may still serve
			// the head before it: the head is settled once they ran out.
			st.settle = now.Add(min(w.othersLease(req.Cluster, req.Holder, now), wproto.MaxWait))
			// A current head no newer than the committed one moves up to it:
			// an older one was left behind (this witness missed writes), and
			// another head of the same version is a branch no quorum holds,
			// which would block every later advance here. A newer one stays:
			// it is a write on top.
			if !req.To.Before(st.cur) {
				st.cur = *req.To
			}
			if err := w.save(ctx, req.Cluster, req.Bucket, st, true); err != nil {
				return nil, err
			}
		}
		resp.Current, resp.Heads = &st.cur, []wproto.BucketHead{st.committed(req.Bucket)}
		resp.WaitMillis = ceilMillis(w.othersLease(req.Cluster, req.Holder, now))
	}
	return resp, nil
}

// bucketState is what a witness holds of one bucket.
type bucketState struct {
	cur, com wproto.Head
	qc       []wproto.Endorsement
	settle   time.Time // see wproto.BucketHead.SettleMillis
	// bar: no head of a version below it is committed any more; every
	// acknowledgement raises it to the version acknowledged. A head this
	// witness never heard of, or stepped over, may be certified too, and
	// committing it after a later write was acknowledged here could let
	// two certified heads that do not build on each other both commit.
	bar    wproto.Head // its version and ballot
	exists bool
}

func (st *bucketState) committed(b uint32) wproto.BucketHead {
	return wproto.BucketHead{Bucket: b, Head: st.com, QC: st.qc}
}

func (w *Witness) bucket(ctx context.Context, cluster []byte, b uint32) (*bucketState, error) {
	st := &bucketState{}
	var cv, mv, settle, bar, cb, mb, bb int64
	var qc []byte
	err := w.db.QueryRowContext(ctx, `SELECT cur_version, cur_digest, com_version, com_digest, com_qc, settle_ms, bar, cur_ballot, com_ballot, bar_ballot
		FROM heads WHERE cluster = ? AND bucket = ?`,
		cluster, int64(b)).Scan(&cv, &st.cur.Digest, &mv, &st.com.Digest, &qc, &settle, &bar, &cb, &mb, &bb)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	st.cur.Version, st.com.Version, st.settle, st.exists = uint64(cv), uint64(mv), time.UnixMilli(settle), true
	st.cur.Ballot, st.com.Ballot, st.bar = uint64(cb), uint64(mb), wproto.Head{Version: uint64(bar), Ballot: uint64(bb)}
	if len(qc) > 0 {
		if err := wire.Unmarshal(qc, &st.qc); err != nil {
			return nil, fmt.Errorf("witness: a stored certificate is malformed: %w", err)
		}
	}
	return st, nil
}

// save stores a bucket's state; committedChanged moves the cluster's epoch
// on and marks the bucket changed at it.
func (w *Witness) save(ctx context.Context, cluster []byte, b uint32, st *bucketState, committedChanged bool) error {
	qc, err := wire.Marshal(st.qc)
	if err != nil {
		return err
	}
	return w.db.Tx(ctx, func(tx *sql.Tx) error {
		var changed int64
		if committedChanged {
			if err := tx.QueryRowContext(ctx, `INSERT INTO clusters (cluster, epoch) VALUES (?, 1)
				ON CONFLICT (cluster) DO UPDATE SET epoch = epoch + 1 RETURNING epoch`, cluster).Scan(&changed); err != nil {
				return err
			}
		} else if st.exists {
			if err := tx.QueryRowContext(ctx, `SELECT changed FROM heads WHERE cluster = ? AND bucket = ?`, cluster, int64(b)).Scan(&changed); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO heads (cluster, bucket, cur_version, cur_digest, com_version, com_digest, com_qc, changed, settle_ms,
				bar, cur_ballot, com_ballot, bar_ballot)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (cluster, bucket) DO UPDATE SET cur_version = excluded.cur_version, cur_digest = excluded.cur_digest,
				com_version = excluded.com_version, com_digest = excluded.com_digest, com_qc = excluded.com_qc, changed = excluded.changed,
				settle_ms = excluded.settle_ms, bar = excluded.bar, cur_ballot = excluded.cur_ballot, com_ballot = excluded.com_ballot,
				bar_ballot = excluded.bar_ballot`,
			cluster, int64(b), int64(st.cur.Version), st.cur.Digest, int64(st.com.Version), st.com.Digest, qc, changed,
			st.settle.Add(time.Millisecond-1).UnixMilli(), int64(st.bar.Version), int64(st.cur.Ballot), int64(st.com.Ballot), int64(st.bar.Ballot))
		return err
	})
}

// lease records holder's read lease until until. The caller holds w.mu.
func (w *Witness) lease(cluster, holder []byte, until time.Time) {
	m := w.leases[string(cluster)]
	if m == nil {
		m = map[string]time.Time{}
		w.leases[string(cluster)] = m
	}
	now := w.cfg.Now()
	for h, u := range m {
		if !u.After(now) {
			delete(m, h)
		}
	}
	if _, ok := m[string(holder)]; !ok && len(m) >= maxHoldersPerCluster {
		// Too many holders to tell apart: keep the longest lease under
		// no holder's name, so every writer waits for it.
		longest := until
		for _, u := range m {
			if u.After(longest) {
				longest = u
			}
		}
		clear(m)
		m[""] = longest
		return
	}
	if until.After(m[string(holder)]) {
		m[string(holder)] = until
	}
}

// extendHorizon makes sure the stored horizon is past until, moving it a
// lease further when it is not (one write per lease length at most). The
// caller holds w.mu.
func (w *Witness) extendHorizon(ctx context.Context, until time.Time) error {
	if until.Before(w.horizon) {
		return nil
	}
	h := until.Add(wproto.MaxLease)
	if _, err := w.db.ExecContext(ctx, `INSERT INTO horizon (id, until_ms) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET until_ms = excluded.until_ms`, h.UnixMilli()); err != nil {
		return err
	}
	w.horizon = h
	return nil
}

// othersLease is how long the leases of holders other than holder still
// run. A witness that restarted does not know which leases it granted
// before: until the horizon it had stored, it counts them as running.
func (w *Witness) othersLease(cluster, holder []byte, now time.Time) time.Duration {
	var longest time.Duration
	if d := w.before.Sub(now); d > 0 {
		longest = d
	}
	for h, u := range w.leases[string(cluster)] {
		if h != string(holder) {
			longest = max(longest, u.Sub(now))
		}
	}
	return longest
}

// readSince returns the committed heads changed after since, in the order
// they changed, at most limit of them: the epoch of the last one returned
// (or the cluster's, when none), and whether more follow.
func (w *Witness) readSince(ctx context.Context, cluster []byte, since uint64, limit int) (uint64, []wproto.BucketHead, bool, error) {
	now := w.cfg.Now()
	rows, err := w.db.QueryContext(ctx, `SELECT bucket, com_version, com_digest, com_qc, changed, settle_ms, com_ballot FROM heads
		WHERE cluster = ? AND changed > ? AND com_version > 0 ORDER BY changed LIMIT ?`, cluster, int64(since), limit+1)
	if err != nil {
		return 0, nil, false, err
	}
	defer rows.Close()
	var out []wproto.BucketHead
	epoch, more := since, false
	for rows.Next() {
		if len(out) == limit {
			more = true
			break
		}
		var b, v, changed, settle, ballot int64
		var d, qc []byte
		if err := rows.Scan(&b, &v, &d, &qc, &changed, &settle, &ballot); err != nil {
			return 0, nil, false, err
		}
		h := wproto.BucketHead{Bucket: uint32(b), Head: wproto.Head{Version: uint64(v), Digest: d, Ballot: uint64(ballot)}}
		if left := time.UnixMilli(settle).Sub(now); left > 0 {
			h.SettleMillis = ceilMillis(left)
		}
		if err := wire.Unmarshal(qc, &h.QC); err != nil {
			return 0, nil, false, fmt.Errorf("witness: a stored certificate is malformed: %w", err)
		}
		out = append(out, h)
		epoch = uint64(changed)
	}
	if err := rows.Err(); err != nil {
		return 0, nil, false, err
	}
	if !more {
		var e int64
		switch err := w.db.QueryRowContext(ctx, `SELECT epoch FROM clusters WHERE cluster = ?`, cluster).Scan(&e); {
		case err == nil:
			epoch = max(epoch, uint64(e))
		case !errors.Is(err, sql.ErrNoRows):
			return 0, nil, false, err
		}
	}
	return epoch, out, more, nil
}

// Info asks the witness at addr for its key (InfoRequest).
func Info(ctx context.Context, addr string) (ed25519.PublicKey, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	if err := WriteMessage(c, []byte(InfoRequest)); err != nil {
		return nil, err
	}
	b, err := ReadMessage(c)
	if err != nil {
		return nil, err
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("witness %s: not a witness key", addr)
	}
	return b, nil
}

// ceilMillis is d in whole milliseconds, rounded up (a wait told is never
// shorter than the lease it covers), at most wproto.MaxWait.
func ceilMillis(d time.Duration) uint64 {
	return uint64((min(d, wproto.MaxWait) + time.Millisecond - 1) / time.Millisecond)
}
