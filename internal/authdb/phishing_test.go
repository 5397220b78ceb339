package authdb

import (
	"encoding/json"
	"testing"
	"time"
)

func testPhishingOverrides(t *testing.T, st storage) {
	d := st.open(t)
	admin := mustActiveUser(t, d, "admin@example.com")
	c := OverrideChange{AdminID: admin.ID, At: t0, RequestID: "r1"}
	bad := []PhishingOverride{
		{Host: "", Verdict: "block", Reason: "x"},
		{Host: "evil.example", Verdict: "deny", Reason: "x"},
		{Host: "evil.example", Verdict: "block", Reason: ""},
	}
	for _, o := range bad {
		wantErr(t, "a malformed override", d.PutPhishingOverride(ctx, o, c), ErrInvalid)
	}
	wantErr(t, "put", d.PutPhishingOverride(ctx, PhishingOverride{Host: "evil.example", Verdict: "block", Reason: "drainer kit", Appeal: "write to abuse@example.com"}, c), nil)
	c.At = t0.Add(time.Minute)
	wantErr(t, "put again", d.PutPhishingOverride(ctx, PhishingOverride{Host: "evil.example", Verdict: "warn", Reason: "taken down"}, c), nil)
	wantErr(t, "put another", d.PutPhishingOverride(ctx, PhishingOverride{Host: "good.example", Verdict: "allow", Reason: "false positive"}, c), nil)
	got, err := d.ListPhishingOverrides(ctx)
	wantErr(t, "list", err, nil)
	wantEqual(t, "overrides", len(got), 2)
	wantEqual(t, "the changed verdict", got[0].Verdict, "warn")
	wantEqual(t, "the changed reason", got[0].Reason, "taken down")
	wantEqual(t, "who", got[0].AdminID, admin.ID)
	wantErr(t, "delete", d.DeletePhishingOverride(ctx, "good.example", "list fixed", c), nil)
	wantErr(t, "delete again", d.DeletePhishingOverride(ctx, "good.example", "list fixed", c), ErrNotFound)
	events, err := d.ListAudit(ctx, admin.ID, 0, 100)
	wantErr(t, "audit", err, nil)
	n := 0
	for _, e := range events {
		if e.Event == "phishing.override" {
			var m map[string]string
			wantErr(t, "detail", json.Unmarshal(e.Detail, &m), nil)
			if m["reason"] == "" || m["host"] == "" {
				t.Fatalf("an override's audit event lacks its host or reason: %s", e.Detail)
			}
			n++
		}
	}
	wantEqual(t, "audit events phishing.override", n, 4)
}
