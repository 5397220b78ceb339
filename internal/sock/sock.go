// Package sock names the one socket between a secretd enclave and its
// runner: "unix:/path" in dev mode, "vsock:CID:PORT" in AWS Nitro (a
// listener takes "vsock:PORT"). There is no vsock loopback on an ordinary
// host, so tests use Unix sockets behind the same net.Listener/net.Conn.
package sock

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/mdlayher/vsock"
)

// Listen opens the enclave's socket. A Unix socket file is created with
// mode 0600, replacing a stale one.
func Listen(addr string) (net.Listener, error) {
	scheme, rest, _ := strings.Cut(addr, ":")
	switch scheme {
	case "unix":
		if rest == "" {
			return nil, fmt.Errorf("sock: %q: empty path", addr)
		}
		if fi, err := os.Lstat(rest); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(rest)
		}
		ln, err := net.Listen("unix", rest)
		if err != nil {
			return nil, err
		}
		if err := os.Chmod(rest, 0o600); err != nil {
			ln.Close()
			return nil, err
		}
		return ln, nil
	case "vsock":
		port, err := strconv.ParseUint(rest, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("sock: %q: want vsock:PORT", addr)
		}
		return vsock.Listen(uint32(port), nil)
	}
	return nil, fmt.Errorf("sock: %q: want unix:/path or vsock:PORT", addr)
}

// Dial connects to an enclave socket.
func Dial(ctx context.Context, addr string) (net.Conn, error) {
	scheme, rest, _ := strings.Cut(addr, ":")
	switch scheme {
	case "unix":
		var d net.Dialer
		return d.DialContext(ctx, "unix", rest)
	case "vsock":
		cidText, portText, ok := strings.Cut(rest, ":")
		cid, err1 := strconv.ParseUint(cidText, 10, 32)
		port, err2 := strconv.ParseUint(portText, 10, 32)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("sock: %q: want vsock:CID:PORT", addr)
		}
		return vsock.DialContext(ctx, uint32(cid), uint32(port), nil)
	}
	return nil, fmt.Errorf("sock: %q: want unix:/path or vsock:CID:PORT", addr)
}
