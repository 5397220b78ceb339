package niomoncmd

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/server"
	"github.com/niomon/niomon/internal/sqldb"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/secretd"
)

// otherUnusedBits writes the same 32-byte key with the two unused bits of
// its last base64 digit set: standard base64 decoding reads it as the
// same key.
func otherUnusedBits(t *testing.T, id string) string {
	t.Helper()
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := strings.IndexByte(digits, id[42])
	if len(id) != 44 || id[43] != '=' || i < 0 || i&3 != 0 {
		t.Fatalf("%q is not a canonical 32-byte base64 key", id)
	}
	return id[:42] + string(digits[i|3]) + "="
}

func TestClaimDeployment_OneClusterWrittenAnotherWayIsTheSameDeployment(t *testing.T) {
	ctx := context.Background()
	db, err := authdb.Open(ctx, sqldb.Config{SQLitePath: filepath.Join(t.TempDir(), "niomon.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key, _ := secretd.GenerateKey()
	otherKey, _ := secretd.GenerateKey()
	idKey, _ := wire.GeneratePrivateKey()
	otherID, _ := wire.GeneratePrivateKey()
	id := idKey.Public().String()
	if err := claimDeployment(ctx, db, key, id, true); err != nil {
		t.Fatalf("the first claim: %v", err)
	}
	if p, _ := wire.ParsePublicKey(otherUnusedBits(t, id)); p.String() != id {
		t.Fatalf("the test's variant %q does not decode to the key", otherUnusedBits(t, id))
	}
	tests := []struct {
		name        string
		key         secretd.Key
		identity    string
		record      bool
		wantSetting string // "" for accepted
	}{
		{"the same identity", key, id, false, ""},
		{"with a trailing newline, as a file read whole gives it", key, id + "\n", true, ""},
		{"with spaces around it", key, "  " + id + " ", false, ""},
		{"with other unused bits in its last digit", key, otherUnusedBits(t, id), true, ""},
		{"another cluster", key, otherID.Public().String(), false, "secretd.identity"},
		{"another cluster, recording", key, otherID.Public().String(), true, "secretd.identity"},
		{"another client key", otherKey, id, true, "secretd.key_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := claimDeployment(ctx, db, tc.key, tc.identity, tc.record)
			var se *server.SettingError
			switch {
			case tc.wantSetting == "" && err != nil:
				t.Fatalf("got %v, want accepted", err)
			case tc.wantSetting != "" && (!errors.As(err, &se) || se.Setting != tc.wantSetting):
				t.Fatalf("got %v, want a refusal naming %s", err, tc.wantSetting)
			}
		})
	}
	if got, _, err := db.DeploymentSetting(ctx, authdb.DeploymentSecretdCluster); err != nil || got != id {
		t.Fatalf("on record: %q, %v; want the canonical %q", got, err, id)
	}
}
