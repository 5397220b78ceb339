package authdb

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func newTestApp(ownerID string) App {
	return App{OwnerID: ownerID, Name: "Example Swap", IconURL: "https://app.example.com/icon.png", Contact: "dev@example.com",
		Origins:      []AppOrigin{{Origin: "https://app.example.com"}, {Origin: "https://*.example.org"}},
		RedirectURIs: []string{"https://app.example.com/callback"}}
}

func testApps(t *testing.T, st storage) {
	d := st.open(t)
	alice := mustActiveUser(t, d, "alice@example.com")
	bob := mustActiveUser(t, d, "bob@example.com")
	a, err := d.CreateApp(ctx, newTestApp(alice.ID), t0)
	wantErr(t, "CreateApp", err, nil)
	wantEqual(t, "status of a new app", a.Status, AppPending)
	for _, o := range a.Origins {
		if len(o.Token) != appTokenLen || o.Method != "" || !o.VerifiedAt.IsZero() {
			t.Fatalf("a new origin: %+v", o)
		}
	}
	if a.Origins[0].Token == a.Origins[1].Token {
		t.Fatal("two origins share a token")
	}
	got, err := d.GetApp(ctx, a.ID)
	wantErr(t, "GetApp", err, nil)
	wantEqual(t, "the app read back", got, a)

	// Proving an origin records the method and time; another app's
	// origin or an unknown one is not found.
	wantErr(t, "VerifyAppOrigin", d.VerifyAppOrigin(ctx, a.ID, "https://app.example.com", "dns", t0.Add(time.Minute)), nil)
	wantErr(t, "an origin the app does not have", d.VerifyAppOrigin(ctx, a.ID, "https://other.example.com", "dns", t0), ErrNotFound)
	wantErr(t, "a method that is not dns or file", d.VerifyAppOrigin(ctx, a.ID, "https://app.example.com", "email", t0), ErrInvalid)
	got, err = d.GetApp(ctx, a.ID)
	wantErr(t, "GetApp", err, nil)
	// Origins read back sorted: "https://*.example.org" first.
	wantEqual(t, "the proved origin", got.Origins[1].Origin, "https://app.example.com")
	wantEqual(t, "method", got.Origins[1].Method, "dns")
	wantEqual(t, "verified at", got.Origins[1].VerifiedAt, t0.Add(time.Minute))
	wantEqual(t, "the other origin", got.Origins[0].Method, "")

	// Each owner lists only their own apps.
	b, err := d.CreateApp(ctx, newTestApp(bob.ID), t0.Add(time.Second))
	wantErr(t, "CreateApp for bob", err, nil)
	mine, err := d.ListAppsByOwner(ctx, alice.ID)
	wantErr(t, "ListAppsByOwner", err, nil)
	wantEqual(t, "alice's apps", len(mine), 1)
	wantEqual(t, "alice's app", mine[0].ID, a.ID)
	pending, err := d.ListAppsByStatus(ctx, AppPending)
	wantErr(t, "ListAppsByStatus", err, nil)
	wantEqual(t, "the vetting queue, oldest first", []string{pending[0].ID, pending[1].ID}, []string{a.ID, b.ID})

	// Bad input is refused and stores nothing.
	for name, mutate := range map[string]func(*App){
		"no origin":          func(a *App) { a.Origins = nil },
		"an origin twice":    func(a *App) { a.Origins = append(a.Origins, a.Origins[0]) },
		"no name":            func(a *App) { a.Name = "" },
		"no contact":         func(a *App) { a.Contact = "" },
		"too many redirects": func(a *App) { a.RedirectURIs = make([]string, MaxAppRedirectURIs+1) },
		"a long name":        func(a *App) { a.Name = strings.Repeat("n", MaxAppNameLen+1) },
	} {
		app := newTestApp(alice.ID)
		mutate(&app)
		_, err := d.CreateApp(ctx, app, t0)
		wantErr(t, name, err, ErrInvalid)
	}
	_, err = d.CreateApp(ctx, newTestApp("usr_nobody0000000000000"), t0)
	if err == nil {
		t.Fatal("an app of no user was stored")
	}
	mine, _ = d.ListAppsByOwner(ctx, alice.ID)
	wantEqual(t, "alice's apps after refusals", len(mine), 1)
}

func testAppLimits(t *testing.T, st storage) {
	d := st.open(t)
	alice := mustActiveUser(t, d, "alice@example.com")
	for i := range MaxAppsPerOwner {
		app := newTestApp(alice.ID)
		app.Name = fmt.Sprint("app ", i)
		_, err := d.CreateApp(ctx, app, t0)
		wantErr(t, "CreateApp", err, nil)
	}
	_, err := d.CreateApp(ctx, newTestApp(alice.ID), t0)
	wantErr(t, "one app more than the limit", err, ErrTooManyApps)
}

func testAppVetting(t *testing.T, st storage) {
	d := st.open(t)
	dev := mustActiveUser(t, d, "dev@example.com")
	admin := mustActiveUser(t, d, "admin@example.com")
	a, err := d.CreateApp(ctx, newTestApp(dev.ID), t0)
	wantErr(t, "CreateApp", err, nil)
	ip := netip.MustParseAddr("192.0.2.7")
	steps := []struct {
		status, reason string
	}{
		{AppVerified, "domains proved; reviewed the site"},
		{AppSuspended, "reported for a drainer on 2026-12-01"},
	}
	for i, s := range steps {
		err := d.SetAppStatus(ctx, Vetting{AppID: a.ID, Status: s.status, Reason: s.reason, AdminID: admin.ID, IP: ip, RequestID: "req-1", At: t0.Add(time.Duration(i+1) * time.Hour)})
		wantErr(t, "SetAppStatus "+s.status, err, nil)
		got, err := d.GetApp(ctx, a.ID)
		wantErr(t, "GetApp", err, nil)
		wantEqual(t, "status", got.Status, s.status)
		wantEqual(t, "reason", got.StatusReason, s.reason)
		wantEqual(t, "updated at", got.UpdatedAt, t0.Add(time.Duration(i+1)*time.Hour))
	}
	// Every decision is an audit event of the administrator, with the
	// app, the statuses and the reason.
	events, err := d.ListAudit(ctx, admin.ID, 0, 10)
	wantErr(t, "ListAudit", err, nil)
	wantEqual(t, "audit events", len(events), 2)
	var detail map[string]string
	if err := json.Unmarshal(events[1].Detail, &detail); err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "audit event", events[1].Event, "app.vetted")
	wantEqual(t, "audit detail", detail, map[string]string{"app": a.ID, "from": AppVerified, "to": AppSuspended, "reason": steps[1].reason})
	wantEqual(t, "audit ip", events[1].IP, ip)

	// A decision without a reason, with an unknown status, or for no app
	// changes nothing and logs nothing.
	wantErr(t, "no reason", d.SetAppStatus(ctx, Vetting{AppID: a.ID, Status: AppVerified, AdminID: admin.ID, At: t0}), ErrInvalid)
	wantErr(t, "an unknown status", d.SetAppStatus(ctx, Vetting{AppID: a.ID, Status: "approved", Reason: "r", AdminID: admin.ID, At: t0}), ErrInvalid)
	wantErr(t, "no such app", d.SetAppStatus(ctx, Vetting{AppID: strings.Repeat("A", FlowIDLen), Status: AppVerified, Reason: "r", AdminID: admin.ID, At: t0}), ErrNotFound)
	got, _ := d.GetApp(ctx, a.ID)
	wantEqual(t, "status after refusals", got.Status, AppSuspended)
	events, _ = d.ListAudit(ctx, admin.ID, 0, 10)
	wantEqual(t, "audit events after refusals", len(events), 2)
}
