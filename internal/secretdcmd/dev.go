package secretdcmd

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/niomon/niomon/internal/childproc"
	"github.com/niomon/niomon/internal/runner"
	"github.com/niomon/niomon/internal/witness"
)

// cmdDev runs both halves on one machine: the enclave as a child process
// listening on a private Unix socket, and the runner in this process.
func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", stderr)
	var f runnerFlags
	f.register(fs, "127.0.0.1:9000", filepath.Join(".data", "secretd"))
	plainImport := fs.Bool("dev-allow-plaintext-import", false, "let the enclave take a mnemonic in plaintext (hdwallet_import_with_policy), for tests")
	var m modeFlags
	m.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	keys, err := f.resolve(fs, nil)
	if err != nil {
		return err
	}
	log, st, err := f.open(ctx, stderr, "dev")
	if err != nil {
		return err
	}
	defer st.Close()
	devKey, err := runner.LoadOrCreateDevSealingKey(f.data)
	if err != nil {
		return err
	}
	g, err := newDevGenesis(f.data, log)
	if err != nil {
		return err
	}
	// A local freshness witness, so that a dev cluster runs as a real one
	// does (and nothing in it is independent of this machine).
	wit, err := witness.Open(ctx, witness.Config{Data: filepath.Join(f.data, "witness"), Log: log.With("component", "witness")})
	if err != nil {
		return err
	}
	defer wit.Close()
	witLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	witCtx, stopWitness := context.WithCancel(ctx)
	defer stopWitness()
	go func() { _ = wit.Serve(witCtx, witLn) }()
	g.witnesses = []string{witLn.Addr().String()}
	var keyFile string
	if len(keys) == 0 {
		path, pub, err := devClientKey(f.data, log)
		if err != nil {
			return err
		}
		keyFile, keys = path, append(keys, pub)
	}

	// A private directory keeps the socket path short (Unix sockets allow
	// about 100 bytes) and out of reach of other users.
	sockDir, err := os.MkdirTemp("", "secretd-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sockDir)
	sockAddr := "unix:" + filepath.Join(sockDir, "enclave.sock")

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	childArgs := []string{"enclave", "--dev", "--listen", sockAddr, "--log-level", f.logLevel}
	if *plainImport {
		childArgs = append(childArgs, "--dev-allow-plaintext-import")
	}
	child := exec.Command(exe, append(append([]string(nil), SelfArgs...), childArgs...)...)
	child.Stdout, child.Stderr = stderr, stderr
	childproc.Bind(child)
	if err := child.Start(); err != nil {
		return fmt.Errorf("starting the enclave: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	childDone := make(chan struct{})
	var childErr error
	go func() {
		childErr = child.Wait()
		close(childDone)
		cancel()
	}()

	cfg := runner.Config{Listen: f.listen, Enclave: sockAddr, Store: st, ClientKeys: append(keys, g.pub), DevSealingKey: devKey, Witnesses: g.witnesses, Log: log}
	if err := m.apply(&cfg); err != nil {
		return err
	}
	err = runRunner(runCtx, cfg, stdout, func() {
		if keyFile != "" {
			fmt.Fprintf(stdout, "dev_client_key_file: %s\n", keyFile)
		}
	}, g)
	select {
	case <-childDone:
		if ctx.Err() == nil {
			return fmt.Errorf("the enclave exited: %v", childErr)
		}
	default:
		stopChild(child, childDone)
	}
	if err == nil {
		log.Info("stopped")
	}
	return err
}

// stopChild asks the enclave to stop (SIGTERM: it wipes its keys and
// exits), and kills it if it has not within 5 seconds.
func stopChild(child *exec.Cmd, done <-chan struct{}) {
	_ = child.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = child.Process.Kill()
		<-done
	}
}
