package niomoncmd

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client must send its request within the read timeout: a body dripped
// a byte at a time would otherwise hold a connection (and a handler) for
// as long as the client likes. The timeout is 60 s in service; here 1 s.
func TestARequestBodyDrippedPastTheReadTimeoutIsCutOff(t *testing.T) {
	const timeout = time.Second
	const size = 200
	for _, tc := range []struct {
		name      string
		drip      time.Duration // between body bytes; 0: all at once
		wantCut   bool
		wantReply string
	}{
		{"a body sent at once is answered", 0, false, "HTTP/1.1 200"},
		{"a body dripped a byte every 100 ms is cut off", 100 * time.Millisecond, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, err := io.ReadAll(r.Body); err != nil {
					http.Error(w, "body", http.StatusBadRequest)
					return
				}
				w.WriteHeader(http.StatusOK)
			})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			hs := newHTTPServer(h, slog.New(slog.DiscardHandler), timeout)
			go hs.Serve(ln)
			t.Cleanup(func() { hs.Close() })
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST /v1/auth/email/start HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size)
			ended := make(chan string, 1)
			go func() {
				line, _ := bufio.NewReader(conn).ReadString('\n')
				ended <- line
			}()
			start := time.Now()
			sent := 0
			if tc.drip == 0 {
				conn.Write([]byte(strings.Repeat("x", size)))
				sent = size
			}
			var reply string
		drip:
			for sent < size {
				select {
				case reply = <-ended:
					break drip
				case <-time.After(tc.drip):
					if _, err := conn.Write([]byte("x")); err != nil {
						break drip
					}
					sent++
				}
			}
			if sent == size {
				select {
				case reply = <-ended:
				case <-time.After(5 * timeout):
					t.Fatal("no answer to a whole request")
				}
			}
			took := time.Since(start)
			switch {
			case tc.wantCut && sent == size:
				t.Fatalf("the whole dripped body (%d bytes over %v) was read: never cut off", size, took)
			case tc.wantCut && took > 5*timeout:
				t.Fatalf("cut off after %v; the read timeout is %v", took, timeout)
			case !strings.HasPrefix(reply, tc.wantReply):
				t.Fatalf("answer %q, want %q", reply, tc.wantReply)
			}
			t.Logf("%d of %d bytes sent, ended after %v with %q", sent, size, took.Round(time.Millisecond), strings.TrimSpace(reply))
		})
	}
}
