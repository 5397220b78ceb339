package runner

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DevSealingKeyFile is the file, in the runner's data directory, that
// holds the dev sealing key. Its name says what it is: whoever has it can
// unseal a dev cluster's master key. Production enclaves seal with AWS KMS
// and never see such a key.
const DevSealingKeyFile = "DEV-ONLY-INSECURE-master-sealing-key"

// DevSealingKey is the dev-mode key that seals the master key.
type DevSealingKey struct{ b [32]byte }

// LoadOrCreateDevSealingKey reads dir/DevSealingKeyFile, creating it (mode
// 0600) with a new random key if it does not exist.
func LoadOrCreateDevSealingKey(dir string) (*DevSealingKey, error) {
	path := filepath.Join(dir, DevSealingKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k := new(DevSealingKey)
		if _, err := rand.Read(k.b[:]); err != nil {
			return nil, err
		}
		text := "# DEV ONLY. INSECURE. This key unseals this dev cluster's master key.\n" +
			base64.StdEncoding.EncodeToString(k.b[:]) + "\n"
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		if _, err := f.WriteString(text); err != nil {
			f.Close()
			return nil, err
		}
		return k, f.Close()
	}
	if err != nil {
		return nil, err
	}
	var line string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			line = l
			break
		}
	}
	raw, err := base64.StdEncoding.DecodeString(line)
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("runner: %s does not hold a 32-byte base64 key", path)
	}
	k := new(DevSealingKey)
	copy(k.b[:], raw)
	clear(raw)
	return k, nil
}
