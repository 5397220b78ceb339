package enclave

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/attest/devattest"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/internal/wireclient"
)

// sessionTo serves one session of an enclave that knows no method, over
// an in-memory pipe, and returns the client's side of it.
func sessionTo(t *testing.T, e *Enclave) (*wire.Session, *wire.MessageReader) {
	t.Helper()
	e.table.Store(&map[string]method{})
	id, err := wire.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := wire.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	cli, srv := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s, peer, err := wire.Server(srv, id, func(wire.PublicKey, wire.ClientHello) error { return nil })
		if err != nil {
			return
		}
		stop := context.AfterFunc(ctx, func() { srv.Close() })
		defer stop()
		e.serveSession(ctx, s, peer)
	}()
	t.Cleanup(func() { cancel(); cli.Close(); wg.Wait() })
	s, err := wireclient.Client(cli, id.Public(), key, wire.ClientHello{Timestamp: uint64(time.Now().UnixNano()), AuthMethod: wire.AuthStaticKey})
	if err != nil {
		t.Fatal(err)
	}
	return s, wire.NewMessageReader(s)
}

func newBareEnclave(t *testing.T, timeout time.Duration) *Enclave {
	t.Helper()
	m, _ := devattest.Measure(os.Args[0])
	att, err := devattest.New(m)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Dev: true, Attester: att})
	if err != nil {
		t.Fatal(err)
	}
	e.requestTimeout = timeout
	return e
}

// ask sends one request and returns the error text of its answer ("" if
// none), failing the test if no answer comes within limit.
func ask(t *testing.T, s *wire.Session, mr *wire.MessageReader, id uint64, size int, limit time.Duration) string {
	t.Helper()
	req, err := wireclient.EncodeRequest(id, "no_such_method", []any{make([]byte, size)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(req); err != nil {
		t.Fatal(err)
	}
	got := make(chan wireclient.Response, 1)
	go func() {
		item, err := mr.Next()
		if err != nil {
			return
		}
		if r, err := wireclient.DecodeResponse(item); err == nil {
			got <- r
		}
	}()
	select {
	case r := <-got:
		if r.MsgID != id {
			t.Fatalf("answer to %d, want %d", r.MsgID, id)
		}
		if r.Error == nil {
			return ""
		}
		return *r.Error
	case <-time.After(limit):
		t.Fatalf("request %d (%d bytes) still unanswered after %v", id, size, limit)
		return ""
	}
}

// Every request the enclave reads is answered within its request
// timeout, even when it finds no room for its bytes: a client takes a
// runner that stays silent on a request for a stopped one. And room is
// given in the order requests came, so a stream of small requests from
// other sessions cannot starve a large one.
func TestEveryRequestIsAnsweredWithinTheRequestTimeout(t *testing.T) {
	cases := []struct {
		name    string
		timeout time.Duration
		load    func(t *testing.T, e *Enclave) (stop func())
		size    int
		want    string // in the answer's error
	}{
		{"no room all along: answered busy", 200 * time.Millisecond, func(t *testing.T, e *Enclave) func() {
			if err := e.budget.Acquire(context.Background(), maxRequestBytesInFlight); err != nil {
				t.Fatal(err)
			}
			return func() { e.budget.Release(maxRequestBytesInFlight) }
		}, 16, "busy"},
		{"a large request among many small ones: run", 3 * time.Second, func(t *testing.T, e *Enclave) func() {
			done := make(chan struct{})
			var wg sync.WaitGroup
			for range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
						if e.budget.Acquire(context.Background(), 64<<10) != nil {
							return
						}
						time.Sleep(time.Millisecond)
						e.budget.Release(64 << 10)
						select {
						case <-done:
							return
						default:
						}
					}
				}()
			}
			time.Sleep(50 * time.Millisecond) // the small ones hold the budget
			return func() { close(done); wg.Wait() }
		}, 1 << 19, "unknown method"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newBareEnclave(t, tc.timeout)
			s, mr := sessionTo(t, e)
			stop := tc.load(t, e)
			got := ask(t, s, mr, 1, tc.size, tc.timeout+2*time.Second)
			stop()
			if !strings.Contains(got, tc.want) {
				t.Fatalf("answer %q, want one saying %q", got, tc.want)
			}
			if got := ask(t, s, mr, 2, 16, 5*time.Second); !strings.Contains(got, "unknown method") {
				t.Fatalf("the next request, with room: %q, want it run", got)
			}
		})
	}
}

// A client that stops reading its answers holds no room from the other
// sessions: a request's bytes are given back before its answer is
// written.
func TestASessionThatReadsNoAnswersHoldsNoRoomFromOthers(t *testing.T) {
	e := newBareEnclave(t, 300*time.Millisecond)
	a, _ := sessionTo(t, e)
	b, bmr := sessionTo(t, e)
	var burst []byte
	for id := range uint64(5) {
		size := 16
		if id > 0 {
			size = wire.MaxMessage - 1000
		}
		req, err := wireclient.EncodeRequest(id, "no_such_method", []any{make([]byte, size)})
		if err != nil {
			t.Fatal(err)
		}
		burst = append(burst, req...)
	}
	written := make(chan error, 1)
	go func() { _, err := a.Write(burst); written <- err }() // and never read
	select {
	case err := <-written:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the enclave did not read the burst")
	}
	time.Sleep(100 * time.Millisecond) // its requests run and block on their answers
	for id := range uint64(3) {
		if got := ask(t, b, bmr, 100+id, 64<<10, 3*time.Second); !strings.Contains(got, "unknown method") {
			t.Fatalf("another session's request %d: %q, want it run", id, got)
		}
	}
}
