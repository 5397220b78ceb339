package enclave

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/wire"
)

// kindAudit objects record what users' credentials did: creates, imports,
// exports and policy changes. The runner stores them; the enclave signs
// them with the receipt key, so the runner can drop an event but not
// forge or alter one. They hold no secret: the oid, the method, the
// credential, the request's hash, the wallet version and the time.
const kindAudit = "audit"

func (e *Enclave) writeAudit(ctx context.Context, s *stamped, snap *snapshot) error {
	h := policy.Hash(s.bytes)
	blob, err := e.signer.audit(&api.AuditEvent{Time: e.cfg.Now().UnixMilli(), OID: s.req.OID, Instance: snap.instance[:], Method: s.req.Method, Credential: s.cred.ID, Request: h[:], Version: snap.version})
	if err != nil {
		return err
	}
	stored, err := wire.Marshal(blob)
	if err != nil {
		return err
	}
	// Ids sort by time; the random tail keeps two events of one
	// nanosecond apart.
	var tail [6]byte
	if _, err := rand.Read(tail[:]); err != nil {
		return err
	}
	id := fmt.Sprintf("%016x-%s", e.cfg.Now().UnixNano(), hex.EncodeToString(tail[:]))
	l, err := e.link()
	if err != nil {
		return err
	}
	return l.Create(ctx, &hostlink.Object{Kind: kindAudit, ID: id, Version: 1, Blob: stored})
}

// audit records an event after a change that already happened; a failure
// is logged, since the change cannot be undone.
func (e *Enclave) audit(ctx context.Context, s *stamped, snap *snapshot) {
	if err := e.writeAudit(ctx, s, snap); err != nil {
		e.log.Error("audit event not stored", "method", s.req.Method, "err", err)
	}
}

// auditStrict records an event before the action it describes: no record,
// no action.
func (e *Enclave) auditStrict(ctx context.Context, s *stamped, snap *snapshot) error {
	if err := e.writeAudit(ctx, s, snap); err != nil {
		e.log.Error("audit event not stored; refusing", "method", s.req.Method, "err", err)
		return errStorage
	}
	return nil
}
