package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/phishing"
)

// The phishing checker's inputs: the verified apps' proved origins (the
// allowlist, and the names look-alikes are judged against), the
// configured lists (read at start, then every phishing.sync, and changed
// in between by administrators' diffs), and administrators' overrides
// (in the database, so every server has them). A sync that fails keeps
// the list as it was and is reported in GET /v1/admin/phishing.

// phishState is what the server knows of its lists.
type phishState struct {
	mu       sync.Mutex
	lists    map[string]*nioapi.PhishingListStatus
	lastSync time.Time
}

func (s *Server) setupPhishing(ctx context.Context) error {
	s.phishLists.lists = map[string]*nioapi.PhishingListStatus{}
	if s.phish == nil {
		var err error
		if s.phish, err = phishing.New(phishing.Config{Appeal: s.cfg.Phishing.Appeal}); err != nil {
			return err
		}
	}
	for i, l := range s.cfg.Phishing.Lists {
		if err := s.syncList(ctx, l); err != nil {
			return &SettingError{fmt.Sprintf("phishing.lists[%d]", i), err.Error()}
		}
	}
	s.phishLists.lastSync = s.now()
	if err := s.refreshPhishingApps(ctx); err != nil {
		return fmt.Errorf("reading the verified apps: %w", err)
	}
	return s.refreshOverrides(ctx)
}

// syncList reads list l in full and replaces it in the checker.
func (s *Server) syncList(ctx context.Context, l PhishingList) error {
	st := &nioapi.PhishingListStatus{Name: l.Name, Source: l.File + l.URL}
	s.phishLists.mu.Lock()
	if old, ok := s.phishLists.lists[l.Name]; ok {
		*st = *old
	}
	s.phishLists.mu.Unlock()
	list, err := s.readList(ctx, l)
	if err == nil {
		err = s.phish.ReplaceList(list)
	}
	s.phishLists.mu.Lock()
	defer s.phishLists.mu.Unlock()
	if err != nil {
		st.Error = err.Error()
	} else {
		st.Error, st.SyncedAt, st.Deny, st.Allow = "", s.now(), len(list.Deny), len(list.Allow)
	}
	s.phishLists.lists[l.Name] = st
	return err
}

func (s *Server) readList(ctx context.Context, l PhishingList) (*phishing.List, error) {
	if l.File != "" {
		f, err := os.Open(l.File)
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", l.File, errors.Unwrap(err))
		}
		defer f.Close()
		return phishing.ParseAny(l.Name, f)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", l.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("fetching %s: HTTP %d", l.URL, resp.StatusCode)
	}
	return phishing.ParseAny(l.Name, resp.Body)
}

// refreshOverrides gives the checker the administrators' overrides.
func (s *Server) refreshOverrides(ctx context.Context) error {
	list, err := s.db.ListPhishingOverrides(ctx)
	if err != nil {
		return err
	}
	out := make([]phishing.Override, 0, len(list))
	for _, o := range list {
		out = append(out, phishing.Override{Host: o.Host, Verdict: phishing.Verdict(o.Verdict), Reason: o.Reason, Appeal: o.Appeal})
	}
	if err := s.phish.SetOverrides(out); err == nil {
		return nil
	}
	// One row the checker refuses (edited in the database) must not drop
	// the others, nor stop the server: keep those that load.
	var good []phishing.Override
	for _, o := range out {
		if err := s.phish.SetOverrides(append(good, o)); err != nil {
			s.log.Error("a phishing override is skipped", "host", o.Host, "err", err)
			continue
		}
		good = append(good, o)
	}
	return s.phish.SetOverrides(good)
}

// SyncPhishing re-reads the verified apps and the overrides, and, when
// phishing.sync has passed since the last full read (or all is true),
// every list.
func (s *Server) SyncPhishing(ctx context.Context, all bool) error {
	err := errors.Join(s.refreshPhishingApps(ctx), s.refreshOverrides(ctx))
	s.phishLists.mu.Lock()
	due := all || s.now().Sub(s.phishLists.lastSync) >= s.cfg.Phishing.Sync.Duration
	if due {
		s.phishLists.lastSync = s.now()
	}
	s.phishLists.mu.Unlock()
	if due {
		for _, l := range s.cfg.Phishing.Lists {
			if lerr := s.syncList(ctx, l); lerr != nil {
				s.log.Warn("a phishing list could not be read; the last copy stays in use", "list", l.Name, "err", lerr)
			}
		}
	}
	return err
}

// RunPhishingSync runs SyncPhishing every interval until ctx ends.
func (s *Server) RunPhishingSync(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() {
		if err := s.SyncPhishing(ctx, false); err != nil && ctx.Err() == nil {
			s.log.Error("phishing sync failed", "err", err)
		}
	})
}

func (s *Server) phishingStatus(ctx context.Context) (nioapi.PhishingStatus, error) {
	st := s.phish.Stats()
	out := nioapi.PhishingStatus{Lists: []nioapi.PhishingListStatus{}, Overrides: []nioapi.PhishingOverride{}, Deny: st.Deny, Allow: st.Allow, Targets: st.Targets}
	s.phishLists.mu.Lock()
	for _, l := range s.cfg.Phishing.Lists {
		if ls, ok := s.phishLists.lists[l.Name]; ok {
			out.Lists = append(out.Lists, *ls)
		}
	}
	s.phishLists.mu.Unlock()
	list, err := s.db.ListPhishingOverrides(ctx)
	if err != nil {
		return out, err
	}
	for _, o := range list {
		out.Overrides = append(out.Overrides, nioapi.PhishingOverride{Host: o.Host, Verdict: o.Verdict, Reason: o.Reason, Appeal: o.Appeal, AdminID: o.AdminID, UpdatedAt: o.UpdatedAt})
	}
	return out, nil
}

func (s *Server) writePhishingStatus(w http.ResponseWriter, ctx context.Context) error {
	st, err := s.phishingStatus(ctx)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// adminPhishing is GET /v1/admin/phishing.
func (s *Server) adminPhishing(w http.ResponseWriter, r *http.Request, a *auth) error {
	if err := s.requireAdmin(r.Context(), a); err != nil {
		return err
	}
	return s.writePhishingStatus(w, r.Context())
}

func (s *Server) configuredList(name string) (PhishingList, error) {
	for _, l := range s.cfg.Phishing.Lists {
		if l.Name == name {
			return l, nil
		}
	}
	return PhishingList{}, apiErr(http.StatusNotFound, CodeNotFound, "no phishing list named "+quoteShort(name)+" is configured")
}

// adminPhishingDiff is POST /v1/admin/phishing/lists/{name}/diff.
func (s *Server) adminPhishingDiff(w http.ResponseWriter, r *http.Request, a *auth) error {
	ctx := r.Context()
	if err := s.requireAdmin(ctx, a); err != nil {
		return err
	}
	var in nioapi.PhishingDiff
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	l, err := s.configuredList(r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := s.phish.Apply(phishing.Diff{List: l.Name, AddDeny: in.AddDeny, RemoveDeny: in.RemoveDeny, AddAllow: in.AddAllow, RemoveAllow: in.RemoveAllow}); err != nil {
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, strings.TrimPrefix(err.Error(), "phishing: "))
	}
	s.audit(r, a.user.ID, "phishing.diff", auditDetail("list", l.Name, "add_deny", auditList(in.AddDeny), "remove_deny", auditList(in.RemoveDeny),
		"add_allow", auditList(in.AddAllow), "remove_allow", auditList(in.RemoveAllow)))
	return s.writePhishingStatus(w, ctx)
}

// adminPhishingSync is POST /v1/admin/phishing/lists/{name}/sync: a full
// read of the list now.
func (s *Server) adminPhishingSync(w http.ResponseWriter, r *http.Request, a *auth) error {
	ctx := r.Context()
	if err := s.requireAdmin(ctx, a); err != nil {
		return err
	}
	l, err := s.configuredList(r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := s.syncList(ctx, l); err != nil {
		return apiErr(http.StatusBadGateway, CodeUnavailable, "the list could not be read; the last copy stays in use: "+err.Error())
	}
	return s.writePhishingStatus(w, ctx)
}

func (s *Server) overrideChange(r *http.Request, a *auth) authdb.OverrideChange {
	ip, _ := netip.ParseAddr(s.clientIP(r))
	return authdb.OverrideChange{AdminID: a.user.ID, IP: ip, RequestID: requestID(r), At: s.now()}
}

// adminPutOverride is POST /v1/admin/phishing/overrides.
func (s *Server) adminPutOverride(w http.ResponseWriter, r *http.Request, a *auth) error {
	ctx := r.Context()
	if err := s.requireAdmin(ctx, a); err != nil {
		return err
	}
	var in nioapi.PhishingOverride
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if strings.Contains(in.Host, "*") {
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, "host: write the domain without *.: an override covers its subdomains already")
	}
	h, err := phishing.Normalize(in.Host)
	if err != nil {
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, "host: "+strings.TrimPrefix(err.Error(), "phishing: "))
	}
	if h.IP || h.Registrable == "" {
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, "host: an override names a domain someone registered, not an IP address or a public suffix such as "+h.Name)
	}
	err = s.db.PutPhishingOverride(ctx, authdb.PhishingOverride{Host: h.Name, Verdict: in.Verdict, Reason: strings.TrimSpace(in.Reason), Appeal: strings.TrimSpace(in.Appeal)}, s.overrideChange(r, a))
	if errors.Is(err, authdb.ErrInvalid) {
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, strings.TrimPrefix(err.Error(), "authdb: invalid input: "))
	}
	if err != nil {
		return err
	}
	if err := s.refreshOverrides(ctx); err != nil {
		return err
	}
	return s.writePhishingStatus(w, ctx)
}

// adminDeleteOverride is DELETE /v1/admin/phishing/overrides/{host}?reason=...
func (s *Server) adminDeleteOverride(w http.ResponseWriter, r *http.Request, a *auth) error {
	ctx := r.Context()
	if err := s.requireAdmin(ctx, a); err != nil {
		return err
	}
	reason := strings.TrimSpace(r.URL.Query().Get("reason"))
	if reason == "" {
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, "removing an override needs a reason (?reason=...): it is kept in the audit log")
	}
	h, err := phishing.Normalize(r.PathValue("host"))
	if err != nil {
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, "host: "+strings.TrimPrefix(err.Error(), "phishing: "))
	}
	err = s.db.DeletePhishingOverride(ctx, h.Name, reason, s.overrideChange(r, a))
	if errors.Is(err, authdb.ErrNotFound) {
		return apiErr(http.StatusNotFound, CodeNotFound, "no override for "+h.Name)
	}
	if err != nil {
		return err
	}
	if err := s.refreshOverrides(ctx); err != nil {
		return err
	}
	return s.writePhishingStatus(w, ctx)
}

// auditList is entries for an audit event: the first few, and how many.
func auditList(entries []string) string {
	const show = 20
	if len(entries) <= show {
		return strings.Join(entries, " ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(entries[:show], " "), len(entries)-show)
}
