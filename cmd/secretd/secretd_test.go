package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/cosmos/go-bip39"
	"github.com/niomon/niomon/internal/pgtest"
	"github.com/niomon/niomon/secretd"
)

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

var xpubPaths = []string{"m/44'/60'/0'/0/0", "m/44'/60'/0'/0/1", "m/84'/0'/0'/0/0", "m/44'/118'/0'/0/0"}

// snapshot reads the xpubs of wallets at xpubPaths.
func snapshot(t *testing.T, c *secretd.Client, oids []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, oid := range oids {
		for _, p := range xpubPaths {
			x, err := c.ExtendedPublicKey(ctx(t), oid, p)
			if err != nil {
				t.Fatalf("%s %s: %v", oid, p, err)
			}
			out[oid+" "+p] = x.ExtendedPublicKey
		}
	}
	return out
}

func sameSnapshot(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d xpubs, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s after restart: got %s, want %s", k, got[k], v)
		}
	}
}

func TestDevCommandKeepsIdentityAndWalletsAcrossRestarts(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	start := func() (p *proc, addr, id string, k secretd.Key) {
		p = startProc(t, "dev", "--listen", "127.0.0.1:0", "--data", data)
		keyFile := p.waitFor("dev_client_key_file")
		addr = p.waitFor("listen")
		id = p.waitFor("cluster_identity")
		k, err := secretd.LoadKeyFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		return p, addr, id, k
	}
	p, addr1, id1, key := start()
	c := dial(t, addr1, id1, key)
	oids := []string{"alice", "bob", "carol"}
	for _, oid := range oids {
		if _, err := c.GenerateWallet(ctx(t), oid, 24, map[string]string{"user": oid}, "default"); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, c, oids)
	c.Close()
	p.stop(syscall.SIGINT)

	p2, addr2, id2, key2 := start()
	if id2 != id1 {
		t.Fatalf("identity after restart: got %s, want %s", id2, id1)
	}
	c2 := dial(t, addr2, id2, key2)
	sameSnapshot(t, snapshot(t, c2, oids), before)
	enclavePID := childPID(t, p2.cmd.Process.Pid)
	p2.stop(syscall.SIGTERM)
	if processAlive(enclavePID) {
		t.Fatalf("the enclave (pid %d) outlived secretd dev", enclavePID)
	}
}

func TestDevEnclaveDiesWithAKilledParent(t *testing.T) {
	p := startProc(t, "dev", "--listen", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "data"))
	p.waitFor("cluster_identity")
	enclavePID := childPID(t, p.cmd.Process.Pid)
	_ = p.cmd.Process.Kill()
	<-p.done
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(enclavePID) {
		if time.Now().After(deadline) {
			syscall.Kill(enclavePID, syscall.SIGKILL)
			t.Fatalf("the enclave (pid %d) still runs 10s after its parent was killed", enclavePID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// childPID returns the one child process of pid.
func childPID(t *testing.T, pid int) int {
	t.Helper()
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var kids []int
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, field := range strings.Fields(string(b)) {
			var k int
			fmt.Sscanf(field, "%d", &k)
			kids = append(kids, k)
		}
	}
	if len(kids) != 1 {
		t.Fatalf("process %d has children %v, want exactly one (the enclave)", pid, kids)
	}
	return kids[0]
}

// processAlive reports whether pid runs (a zombie counts as gone).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func TestEnclaveAndRunnerAsSeparateProcesses(t *testing.T) {
	tests := []struct {
		name     string
		postgres func(t *testing.T) string
	}{
		{"sqlite store", nil},
		{"postgres store", func(t *testing.T) string { return pgtest.NewSchema(t) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var storeArgs []string
			if tc.postgres != nil {
				storeArgs = []string{"--postgres", tc.postgres(t)}
			}
			separateProcesses(t, storeArgs)
		})
	}
}

// separateProcesses starts the enclave and the runner as two processes,
// makes wallets, restarts both, and checks identity and xpubs survive.
func separateProcesses(t *testing.T, storeArgs []string) {
	dir := shortTempDir(t)
	data := filepath.Join(dir, "data")
	sock := "unix:" + filepath.Join(dir, "enclave.sock")
	key, _ := secretd.GenerateKey()

	start := func() (enc, run *proc, addr, id string) {
		enc = startProc(t, "enclave", "--dev", "--listen", sock)
		args := append([]string{"runner", "--dev", "--dev-genesis", "--listen", "127.0.0.1:0", "--enclave", sock, "--data", data, "--client-key", key.PublicKey()}, storeArgs...)
		run = startProc(t, args...)
		addr = run.waitFor("listen")
		id = run.waitFor("cluster_identity")
		return
	}
	enc, run, addr, id1 := start()
	c := dial(t, addr, id1, key)
	oids := make([]string, 20)
	for i := range oids {
		oids[i] = fmt.Sprintf("wallet-%02d", i)
		if _, err := c.GenerateWallet(ctx(t), oids[i], 12+3*(i%5), nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, c, oids)
	c.Close()
	run.stop(syscall.SIGTERM)
	enc.stop(syscall.SIGTERM)

	enc2, run2, addr2, id2 := start()
	_ = enc2
	if id2 != id1 {
		t.Fatalf("identity after restarting both: got %s, want %s", id2, id1)
	}
	c2 := dial(t, addr2, id2, key)
	sameSnapshot(t, snapshot(t, c2, oids), before)
	run2.stop(syscall.SIGTERM)
}

// TestEnclaveMemoryStaysSmallUnderLoad: Nitro enclaves have a fixed,
// small allocation, so the enclave's peak resident memory under a load of
// wallets and derivations stays within 64 MiB. The race detector's shadow
// memory would be measured too, so .ci/run runs this without -race.
func TestEnclaveMemoryStaysSmallUnderLoad(t *testing.T) {
	if raceEnabled {
		t.Skip("measures resident memory; .ci/run runs it without -race")
	}
	dir := shortTempDir(t)
	sock := "unix:" + filepath.Join(dir, "enclave.sock")
	key, _ := secretd.GenerateKey()
	enc := startProc(t, "enclave", "--dev", "--listen", sock)
	run := startProc(t, "runner", "--dev", "--dev-genesis", "--listen", "127.0.0.1:0", "--enclave", sock, "--data", filepath.Join(dir, "data"), "--client-key", key.PublicKey())
	addr, id := run.waitFor("listen"), run.waitFor("cluster_identity")
	c := dial(t, addr, id, key)
	oids := make([]string, 200)
	for i := range oids {
		oids[i] = fmt.Sprintf("wallet-%03d", i)
		if _, err := c.GenerateWallet(ctx(t), oids[i], 24, nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		snapshot(t, c, oids)
	}
	// And EIP-712 documents near the size limit, 64 at a time.
	signer := typedDataLoad(t, addr, id, key)
	kb := vmHWM(t, enc.cmd.Process.Pid)
	t.Logf("enclave peak resident memory: %d KiB after 200 wallets, %d derivations and %d large EIP-712 documents", kb, 4*len(oids)*len(xpubPaths), signer)
	if kb > 64<<10 {
		t.Fatalf("enclave peak resident memory: got %d KiB, want at most 64 MiB", kb)
	}
	c.Close()
	run.stop(syscall.SIGTERM)
	enc.stop(syscall.SIGTERM)
}

// secrets are every form in which a wallet's key material could leak.
func secretsOf(t *testing.T, mnemonic string, paths []string) map[string][]byte {
	t.Helper()
	// MnemonicToByteArray returns the entropy followed by the checksum
	// byte (for 12 words, a 4-bit checksum in one byte).
	withChecksum, err := bip39.MnemonicToByteArray(mnemonic)
	if err != nil {
		t.Fatal(err)
	}
	entropy := withChecksum[:len(strings.Fields(mnemonic))*4/3]
	seed := bip39.NewSeed(mnemonic, "")
	out := map[string][]byte{
		"mnemonic":       []byte(mnemonic),
		"mnemonic words": []byte(strings.Join(strings.Fields(mnemonic)[3:9], " ")),
		"entropy":        entropy,
		"seed":           seed,
	}
	master, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	mk, _ := master.ECPrivKey()
	out["master private key"] = mk.Serialize()
	out["master chain code"] = master.ChainCode()
	out["master xprv"] = []byte(master.String())
	for _, p := range paths {
		k := master
		for _, part := range strings.Split(p, "/")[1:] {
			var i uint32
			fmt.Sscanf(strings.TrimSuffix(part, "'"), "%d", &i)
			if strings.HasSuffix(part, "'") {
				i += hdkeychain.HardenedKeyStart
			}
			if k, err = k.Derive(i); err != nil {
				t.Fatal(err)
			}
		}
		pk, _ := k.ECPrivKey()
		out["private key "+p] = pk.Serialize()
		out["xprv "+p] = []byte(k.String())
	}
	// Also their hex and base64 forms, as a log line would carry them.
	for name, v := range out {
		if len(v) >= 16 && !strings.HasPrefix(name, "mnemonic") && !strings.HasPrefix(name, "xprv") && name != "master xprv" {
			out[name+" (hex)"] = []byte(hex.EncodeToString(v))
			out[name+" (base64)"] = []byte(base64.StdEncoding.EncodeToString(v))
		}
	}
	return out
}

func TestNoPlaintextKeyMaterialReachesTheRunner(t *testing.T) {
	dir := shortTempDir(t)
	data := filepath.Join(dir, "data")
	encSock := filepath.Join(dir, "enclave.sock")
	tapSock := filepath.Join(dir, "tap.sock")
	key, _ := secretd.GenerateKey()

	enc := startProc(t, "enclave", "--dev", "--dev-allow-plaintext-import", "--listen", "unix:"+encSock, "--log-level", "debug")
	// Wait for the enclave socket before the tap dials it.
	waitForFile(t, encSock)
	// Everything between runner and enclave crosses this tap ...
	encTap := startTap(t, "unix", tapSock, encSock)
	run := startProc(t, "runner", "--dev", "--dev-genesis", "--listen", "127.0.0.1:0", "--enclave", "unix:"+tapSock, "--data", data, "--client-key", key.PublicKey(), "--log-level", "debug")
	runAddr := run.waitFor("listen")
	id := run.waitFor("cluster_identity")
	// ... and everything between client and runner crosses this one.
	cliTap := startTap(t, "tcp", "127.0.0.1:0", runAddr)
	c := dial(t, cliTap.ln.Addr().String(), id, key)

	// Fresh random mnemonics: a well-known one (all-zero entropy, say)
	// would match unrelated bytes and prove nothing.
	var mnemonics []string
	for _, bits := range []int{128, 256} {
		e, err := bip39.NewEntropy(bits)
		if err != nil {
			t.Fatal(err)
		}
		m, err := bip39.NewMnemonic(e)
		if err != nil {
			t.Fatal(err)
		}
		mnemonics = append(mnemonics, m)
	}
	for i, m := range mnemonics {
		oid := fmt.Sprintf("imported-%d", i)
		if _, err := c.ImportWalletPlaintext(ctx(t), oid, m, nil, ""); err != nil {
			t.Fatal(err)
		}
		for _, p := range xpubPaths {
			if _, err := c.ExtendedPublicKey(ctx(t), oid, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.Close()
	run.stop(syscall.SIGTERM)
	enc.stop(syscall.SIGTERM)

	places := readTree(t, data)
	places["client↔runner traffic"] = cliTap.bytes()
	places["runner↔enclave traffic"] = encTap.bytes()
	places["runner stdout+stderr"] = run.stderr.Bytes()
	places["enclave stderr"] = enc.stderr.Bytes()
	if len(places["runner↔enclave traffic"]) < 1000 || len(places["client↔runner traffic"]) < 1000 {
		t.Fatal("the taps recorded almost nothing: the scan would prove nothing")
	}
	for i, m := range mnemonics {
		for name, secret := range secretsOf(t, m, xpubPaths) {
			for place, b := range places {
				if bytes.Contains(b, secret) {
					t.Errorf("%s of mnemonic %d found in %s", name, i, place)
				}
			}
		}
	}
}

func waitForFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
}

// typedDataLoad signs 128 EIP-712 documents of about 60 KiB (30,000
// array elements each), 64 at a time over 16 sessions, and returns how
// many it signed.
func typedDataLoad(t *testing.T, addr, id string, key secretd.Key) int {
	t.Helper()
	c, err := secretd.Dial(ctx(t), addr, secretd.Options{Identity: id, Key: key, PoolSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k, err := secretd.NewP256Key(secretd.KindAPIKey, time.Time{}, secretd.RightSign, secretd.RightPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateWallet(ctx(t), "typed", secretd.CreateOptions{}, k); err != nil {
		t.Fatal(err)
	}
	var rows []string
	for range 30 {
		rows = append(rows, "["+strings.TrimSuffix(strings.Repeat("7,", 1000), ",")+"]")
	}
	doc := `{"types":{"EIP712Domain":[{"name":"name","type":"string"}],"M":[{"name":"v","type":"uint8[][]"}]},` +
		`"primaryType":"M","domain":{"name":"load"},"message":{"v":[` + strings.Join(rows, ",") + `]}}`
	const total, parallel = 128, 64
	var wg sync.WaitGroup
	errs := make(chan error, total)
	sem := make(chan struct{}, parallel)
	for range total {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, err := c.Sign(ctx(t), "typed", secretd.SignParams{Scheme: secretd.SchemeEthTypedData, Path: "m/44'/60'/0'/0/0", TypedData: doc}, k)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a large EIP-712 document: %v", err)
		}
	}
	return total
}
