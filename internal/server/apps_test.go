package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/niomon/niomon/internal/apps"
	"github.com/niomon/niomon/internal/apps/appstest"
	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/server"
)

// appsWorld: a DNS server the developers' domains are proved against,
// a server whose administrator is admin@example.com, and three signed-in
// API clients: the developer, another developer, and the administrator.
type appsWorld struct {
	e                *env
	zone             *appstest.Zone
	dev, other, root *nioapi.Client
	devID            string
}

func newAppsWorld(t *testing.T) *appsWorld {
	t.Helper()
	zone := appstest.DNSServer(t, nil)
	e := newEnv(t, envOptions{
		config:   func(c *server.Config) { c.Admins = []string{"Admin@Example.com"} },
		verifier: &apps.Verifier{Resolver: zone.Resolver()},
	})
	w := &appsWorld{e: e, zone: zone, dev: e.client(), other: e.client(), root: e.client()}
	w.devID = e.emailSignIn(w.dev, "dev@example.org", true).User.ID
	e.emailSignIn(w.other, "other@example.net", true)
	e.emailSignIn(w.root, "admin@example.com", true)
	return w
}

func (w *appsWorld) register(t *testing.T, c *nioapi.Client, in nioapi.NewApp) (nioapi.App, error) {
	t.Helper()
	var out nioapi.App
	err := c.Do(context.Background(), http.MethodPost, "/v1/apps", in, &out)
	return out, err
}

var swapApp = nioapi.NewApp{Name: "Example Swap", Contact: "dev@example.org",
	Origins:      []string{"https://swap.example.org", "https://*.example.org", "http://localhost:3000"},
	RedirectURIs: []string{"https://swap.example.org/callback", "http://localhost:3000/cb"}}

func TestApps_ADeveloperRegistersAnAppAndIsToldHowToProveEachDomain(t *testing.T) {
	w := newAppsWorld(t)
	app, err := w.register(t, w.dev, swapApp)
	if err != nil {
		t.Fatal(err)
	}
	if app.Status != authdb.AppPending || app.ClientType != "public" || len(app.Origins) != 3 || app.OwnerID != w.devID {
		t.Fatalf("a new app: %+v, want pending, public, three origins, owned by the developer", app)
	}
	for _, o := range app.Origins {
		dev := strings.HasPrefix(o.Origin, "http://")
		if o.Verified || (o.TXTName == "") != dev || (o.FileURL == "") != dev {
			t.Fatalf("origin %+v: want unverified, with proofs unless it is a development origin", o)
		}
	}
	if o := originOf(t, app, "https://*.example.org"); o.Domain != "example.org" || o.TXTName != "_niomon-challenge.example.org" || !strings.HasPrefix(o.TXTValue, "niomon-verify=") {
		t.Fatalf("the wildcard origin's proof: %+v, want one for example.org", o)
	}
	var mine []nioapi.App
	if err := w.dev.Do(context.Background(), http.MethodGet, "/v1/apps", nil, &mine); err != nil || len(mine) != 1 || mine[0].ID != app.ID {
		t.Fatalf("GET /v1/apps: %v %d", err, len(mine))
	}
	var theirs []nioapi.App
	if err := w.other.Do(context.Background(), http.MethodGet, "/v1/apps", nil, &theirs); err != nil || len(theirs) != 0 {
		t.Fatalf("another developer's GET /v1/apps: %v %d, want none", err, len(theirs))
	}
	if err := w.other.Do(context.Background(), http.MethodGet, "/v1/apps/"+app.ID, nil, &nioapi.App{}); errCode(err) != server.CodeNotFound {
		t.Fatalf("another developer reads the app: %v, want not_found", err)
	}
}

func TestApps_BadRegistrationsAreRefusedWithTheReason(t *testing.T) {
	w := newAppsWorld(t)
	cases := []struct {
		name   string
		mutate func(a *nioapi.NewApp)
		says   string
	}{
		{"no name", func(a *nioapi.NewApp) { a.Name = " " }, "name"},
		{"no origin", func(a *nioapi.NewApp) { a.Origins = nil }, "origins"},
		{"an http origin that is not localhost", func(a *nioapi.NewApp) { a.Origins = []string{"http://swap.example.org"} }, "swap.example.org"},
		{"a public suffix", func(a *nioapi.NewApp) { a.Origins = []string{"https://*.co.uk"} }, "co.uk"},
		{"an IP address", func(a *nioapi.NewApp) { a.Origins = []string{"https://192.0.2.1"} }, "192.0.2.1"},
		{"a redirect URI with a fragment", func(a *nioapi.NewApp) { a.RedirectURIs = []string{"https://swap.example.org/cb#x"} }, "redirect URI"},
		{"an http icon", func(a *nioapi.NewApp) { a.IconURL = "http://swap.example.org/i.png" }, "icon_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := swapApp
			in.Origins, in.RedirectURIs = append([]string(nil), swapApp.Origins...), append([]string(nil), swapApp.RedirectURIs...)
			tc.mutate(&in)
			_, err := w.register(t, w.dev, in)
			if errCode(err) != server.CodeInvalidRequest || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got %v, want invalid_request naming %q", err, tc.says)
			}
		})
	}
}

func TestApps_ADomainIsProvedByItsTXTRecordAndNothingElse(t *testing.T) {
	w := newAppsWorld(t)
	app, err := w.register(t, w.dev, swapApp)
	if err != nil {
		t.Fatal(err)
	}
	o := originOf(t, app, "https://swap.example.org")
	verify := func(c *nioapi.Client, origin, method string) (nioapi.App, error) {
		var out nioapi.App
		err := c.Do(context.Background(), http.MethodPost, "/v1/apps/"+app.ID+"/origins/verify", nioapi.VerifyOrigin{Origin: origin, Method: method}, &out)
		return out, err
	}
	if _, err := verify(w.dev, o.Origin, "dns"); errCode(err) != server.CodeInvalidRequest || !strings.Contains(err.Error(), "does not show") {
		t.Fatalf("before the record exists: %v, want a refusal saying the domain does not show the token", err)
	}
	other, _ := w.register(t, w.other, nioapi.NewApp{Name: "Other", Contact: "o@example.net", Origins: []string{"https://swap.example.org"}})
	w.zone.Set(o.TXTName, other.Origins[0].TXTValue) // another app's token
	if _, err := verify(w.dev, o.Origin, "dns"); err == nil {
		t.Fatal("another app's token proved the domain")
	}
	w.zone.Set(o.TXTName, "v=spf1 -all", o.TXTValue)
	if _, err := verify(w.other, o.Origin, "dns"); errCode(err) != server.CodeNotFound {
		t.Fatalf("another developer verifies the app's origin: %v, want not_found", err)
	}
	if _, err := verify(w.dev, "http://localhost:3000", "dns"); errCode(err) != server.CodeInvalidRequest {
		t.Fatalf("a development origin: %v, want invalid_request", err)
	}
	got, err := verify(w.dev, o.Origin, "dns")
	if err != nil || !originOf(t, got, o.Origin).Verified || originOf(t, got, o.Origin).Method != "dns" || originOf(t, got, "https://*.example.org").Verified {
		t.Fatalf("with the record: %v %+v, want only that origin verified by dns", err, got.Origins)
	}
}

func TestApps_OnlyAnAdministratorVetsAndEveryDecisionIsAudited(t *testing.T) {
	w := newAppsWorld(t)
	app, err := w.register(t, w.dev, swapApp)
	if err != nil {
		t.Fatal(err)
	}
	set := func(c *nioapi.Client, status, reason string) (nioapi.App, error) {
		var out nioapi.App
		err := c.Do(context.Background(), http.MethodPost, "/v1/admin/apps/"+app.ID+"/status", nioapi.AppStatus{Status: status, Reason: reason}, &out)
		return out, err
	}
	if _, err := set(w.dev, authdb.AppVerified, "I say so"); errCode(err) != server.CodeForbidden {
		t.Fatalf("the developer vets their own app: %v, want forbidden", err)
	}
	var pending []nioapi.App
	if err := w.dev.Do(context.Background(), http.MethodGet, "/v1/admin/apps", nil, &pending); errCode(err) != server.CodeForbidden {
		t.Fatalf("the developer lists pending apps: %v, want forbidden", err)
	}
	if err := w.root.Do(context.Background(), http.MethodGet, "/v1/admin/apps", nil, &pending); err != nil || len(pending) != 1 || pending[0].ID != app.ID {
		t.Fatalf("the administrator lists pending apps: %v %d", err, len(pending))
	}
	if _, err := set(w.root, authdb.AppVerified, "  "); errCode(err) != server.CodeInvalidRequest {
		t.Fatalf("a decision without a reason: %v, want invalid_request", err)
	}
	if _, err := set(w.root, "approved", "ok"); errCode(err) != server.CodeInvalidRequest {
		t.Fatalf("an unknown status: %v, want invalid_request", err)
	}
	got, err := set(w.root, authdb.AppVerified, "reviewed the site and the contact")
	if err != nil || got.Status != authdb.AppVerified || got.StatusReason != "reviewed the site and the contact" {
		t.Fatalf("verify: %v %+v", err, got)
	}
	if _, err := set(w.root, authdb.AppSuspended, "drained wallets through a fake airdrop"); err != nil {
		t.Fatal(err)
	}
	var seen nioapi.App
	if err := w.dev.Do(context.Background(), http.MethodGet, "/v1/apps/"+app.ID, nil, &seen); err != nil || seen.Status != authdb.AppSuspended || seen.StatusReason != "drained wallets through a fake airdrop" {
		t.Fatalf("the developer sees %v %+v, want suspended with the reason", err, seen)
	}
	events, err := w.e.db.ListAudit(context.Background(), "", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var vetted []map[string]string
	for _, ev := range events {
		if ev.Event == "app.vetted" {
			var d map[string]string
			_ = json.Unmarshal(ev.Detail, &d)
			vetted = append(vetted, d)
		}
	}
	if len(vetted) != 2 || vetted[0]["reason"] == "" || vetted[1]["reason"] == "" {
		t.Fatalf("audit events app.vetted: %v, want two with their reasons", vetted)
	}
}

func TestApps_AClientSecretMakesAConfidentialClientAndIsShownOnce(t *testing.T) {
	w := newAppsWorld(t)
	app, err := w.register(t, w.dev, swapApp)
	if err != nil {
		t.Fatal(err)
	}
	var sec nioapi.ClientSecret
	if err := w.other.Do(context.Background(), http.MethodPost, "/v1/apps/"+app.ID+"/client-secret", nil, &sec); errCode(err) != server.CodeNotFound {
		t.Fatalf("another developer asks for the secret: %v, want not_found", err)
	}
	if err := w.dev.Do(context.Background(), http.MethodPost, "/v1/apps/"+app.ID+"/client-secret", nil, &sec); err != nil || sec.ClientID != app.ID || len(sec.ClientSecret) < 40 {
		t.Fatalf("client secret: %v %+v", err, sec)
	}
	var got nioapi.App
	if err := w.dev.Do(context.Background(), http.MethodGet, "/v1/apps/"+app.ID, nil, &got); err != nil || got.ClientType != "confidential" {
		t.Fatalf("after the secret: %v %q, want confidential", err, got.ClientType)
	}
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), sec.ClientSecret) || strings.Contains(w.e.logs.String(), sec.ClientSecret) {
		t.Fatal("the client secret appears again after it was shown")
	}
}

func originOf(t *testing.T, app nioapi.App, origin string) nioapi.AppOrigin {
	t.Helper()
	for _, o := range app.Origins {
		if o.Origin == origin {
			return o
		}
	}
	t.Fatalf("the app has no origin %s: %+v", origin, app.Origins)
	return nioapi.AppOrigin{}
}
