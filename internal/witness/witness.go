// Package witness is a freshness witness for secretd clusters: a small
// daemon that an independent party runs. For each cluster it keeps the
// head (version, digest) of every bucket of the cluster's wallet index,
// moves a head only forward and only when the cluster's own key asks,
// records read leases, and signs every answer with its key. It never sees
// a wallet, a key or an oid. See package wproto for the protocol and why.
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
	// maxConns bounds the connections served at once.
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
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
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
		`CREATE TABLE IF NOT EXISTS heads (cluster BLOB NOT NULL, bucket INTEGER NOT NULL, version INTEGER NOT NULL,
			digest BLOB, changed INTEGER NOT NULL, PRIMARY KEY (cluster, bucket)) STRICT`,
		`CREATE TABLE IF NOT EXISTS horizon (id INTEGER PRIMARY KEY CHECK (id = 1), until_ms INTEGER NOT NULL) STRICT`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
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
	sem := make(chan struct{}, maxConns)
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
		select {
		case sem <- struct{}{}:
		default:
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done(); c.Close() }()
			stopConn := context.AfterFunc(ctx, func() { c.Close() })
			defer stopConn()
			for {
				_ = c.SetDeadline(time.Now().Add(ioTimeout))
				req, err := ReadMessage(c)
				if err != nil {
					return
				}
				if err := WriteMessage(c, w.Handle(ctx, req)); err != nil {
					return
				}
			}
		}()
	}
}

// ReadMessage reads one length-prefixed message.
func ReadMessage(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > wproto.MaxMessage {
		return nil, fmt.Errorf("witness: message of %d bytes exceeds %d", n, wproto.MaxMessage)
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
	out, err := wproto.SignResponse(w.key, resp)
	if err != nil {
		return nil
	}
	return out
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
		epoch, heads, err := w.readSince(ctx, req.Cluster, req.Since)
		if err != nil {
			return nil, err
		}
		until := now.Add(time.Duration(req.LeaseMillis) * time.Millisecond)
		if err := w.extendHorizon(ctx, until); err != nil {
			return nil, err
		}
		w.lease(req.Cluster, req.Holder, until)
		resp.Epoch, resp.Heads, resp.LeaseMillis = epoch, heads, req.LeaseMillis
	case wproto.OpAdvance:
		cur, err := w.head(ctx, req.Cluster, req.Bucket)
		if err != nil {
			return nil, err
		}
		ok := false
		switch {
		case cur.Equal(*req.To):
			ok = true // a retry of a change this witness holds
		case req.From != nil:
			ok = cur.Equal(*req.From)
		default:
			ok = req.To.Version >= cur.Version
		}
		if !ok {
			resp.Status = wproto.StatusConflict
			resp.Heads = []wproto.BucketHead{{Bucket: req.Bucket, Head: cur}}
			resp.Epoch, err = w.epoch(ctx, req.Cluster)
			return resp, err
		}
		if !cur.Equal(*req.To) {
			if resp.Epoch, err = w.setHead(ctx, req.Cluster, req.Bucket, *req.To); err != nil {
				return nil, err
			}
		} else if resp.Epoch, err = w.epoch(ctx, req.Cluster); err != nil {
			return nil, err
		}
		resp.Heads = []wproto.BucketHead{{Bucket: req.Bucket, Head: *req.To}}
		resp.WaitMillis = uint64(min(w.othersLease(req.Cluster, req.Holder, now), wproto.MaxWait).Milliseconds())
	}
	return resp, nil
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

func (w *Witness) head(ctx context.Context, cluster []byte, bucket uint32) (wproto.Head, error) {
	var h wproto.Head
	var v int64
	err := w.db.QueryRowContext(ctx, `SELECT version, digest FROM heads WHERE cluster = ? AND bucket = ?`, cluster, int64(bucket)).Scan(&v, &h.Digest)
	if errors.Is(err, sql.ErrNoRows) {
		return wproto.Head{}, nil
	}
	h.Version = uint64(v)
	return h, err
}

func (w *Witness) epoch(ctx context.Context, cluster []byte) (uint64, error) {
	var e int64
	err := w.db.QueryRowContext(ctx, `SELECT epoch FROM clusters WHERE cluster = ?`, cluster).Scan(&e)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return uint64(e), err
}

// setHead stores a bucket's new head and returns the cluster's new epoch.
func (w *Witness) setHead(ctx context.Context, cluster []byte, bucket uint32, h wproto.Head) (uint64, error) {
	var epoch uint64
	err := w.db.Tx(ctx, func(tx *sql.Tx) error {
		var e int64
		err := tx.QueryRowContext(ctx, `INSERT INTO clusters (cluster, epoch) VALUES (?, 1)
			ON CONFLICT (cluster) DO UPDATE SET epoch = epoch + 1 RETURNING epoch`, cluster).Scan(&e)
		if err != nil {
			return err
		}
		epoch = uint64(e)
		_, err = tx.ExecContext(ctx, `INSERT INTO heads (cluster, bucket, version, digest, changed) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (cluster, bucket) DO UPDATE SET version = excluded.version, digest = excluded.digest, changed = excluded.changed`,
			cluster, int64(bucket), int64(h.Version), h.Digest, e)
		return err
	})
	return epoch, err
}

// readSince returns the cluster's epoch and the heads changed after since.
func (w *Witness) readSince(ctx context.Context, cluster []byte, since uint64) (uint64, []wproto.BucketHead, error) {
	epoch, err := w.epoch(ctx, cluster)
	if err != nil {
		return 0, nil, err
	}
	rows, err := w.db.QueryContext(ctx, `SELECT bucket, version, digest FROM heads WHERE cluster = ? AND changed > ? ORDER BY bucket`, cluster, int64(since))
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	var out []wproto.BucketHead
	for rows.Next() {
		var b, v int64
		var d []byte
		if err := rows.Scan(&b, &v, &d); err != nil {
			return 0, nil, err
		}
		out = append(out, wproto.BucketHead{Bucket: uint32(b), Head: wproto.Head{Version: uint64(v), Digest: d}})
	}
	return epoch, out, rows.Err()
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
