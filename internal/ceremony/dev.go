package ceremony

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/drk"
	"github.com/niomon/niomon/secretd"
)

// Dev holder set: five holders, three to recover, as in production.
const (
	devHolders   = 5
	devThreshold = 3
)

// Dev runs the genesis of a dev cluster from one machine: the five holder
// identities are files in dir (made on first use, reused after), every
// step of the real ceremony runs (statement, five approvals, genesis,
// check, confirm), and the shares and transcript are kept in a new
// directory under dir. It rehearses the ceremony and protects nothing:
// whoever reads dir holds every share. It returns the cluster identity.
func Dev(ctx context.Context, addr string, genesisIdentity []byte, key secretd.Key, dir string, witnesses []api.WitnessSpec, quorum int) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ids := make([]string, devHolders)
	holders := make([]api.HolderSpec, devHolders)
	for i := range ids {
		id, err := devHolderIdentity(filepath.Join(dir, fmt.Sprintf("holder-%d.agekey", i+1)))
		if err != nil {
			return nil, err
		}
		rcpt, sk, err := drk.HolderKeys(id)
		if err != nil {
			return nil, err
		}
		ids[i] = id
		holders[i] = api.HolderSpec{Name: fmt.Sprintf("dev-holder-%d", i+1), Recipient: rcpt, SigningKey: sk.Public().(ed25519.PublicKey)}
	}
	c, err := secretd.Dial(ctx, addr, secretd.Options{Identity: base64.StdEncoding.EncodeToString(genesisIdentity), Key: key, PoolSize: 1})
	if err != nil {
		return nil, fmt.Errorf("dialling the genesis enclave: %w", err)
	}
	defer c.Close()
	policy := &secretd.AttestationPolicy{AllowDev: true}
	sf, err := NewGenesis(ctx, c, genesisIdentity, policy, api.GenesisStatement{Threshold: devThreshold, Holders: holders, Witnesses: witnesses, WitnessQuorum: quorum})
	if err != nil {
		return nil, err
	}
	approvals := make([]*ApprovalFile, len(ids))
	for i, id := range ids {
		if approvals[i], _, err = Approve(sf, id, Expect{Policy: policy}); err != nil {
			return nil, fmt.Errorf("dev holder %d: %w", i+1, err)
		}
	}
	r, err := Genesis(ctx, c, sf, approvals, policy)
	if err != nil {
		return nil, err
	}
	if _, err := Save(r, filepath.Join(dir, "genesis-"+time.Now().UTC().Format("20060102T150405.000000000Z"))); err != nil {
		return nil, err
	}
	return Confirm(ctx, c, r)
}

// devHolderIdentity loads or makes a dev holder's age identity file.
func devHolderIdentity(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); strings.HasPrefix(line, "AGE-SECRET-KEY-") {
				return line, nil
			}
		}
		return "", fmt.Errorf("%s: no AGE-SECRET-KEY line", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", err
	}
	text := fmt.Sprintf("# DEV ONLY: a dev cluster's DRK holder, on the operator's own disk.\n%s\n", id)
	if err := writeSynced(path, []byte(text), 0o600); err != nil {
		return "", err
	}
	return id.String(), nil
}
