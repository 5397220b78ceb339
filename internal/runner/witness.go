package runner

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/niomon/niomon/internal/witness"
)

// The runner relays the enclave's requests to its freshness witnesses
// (the enclave has no network). It reads nothing: requests are signed by
// the cluster and answers by each witness, and the enclave checks them.

// witnessTimeout bounds one relayed witness request.
const witnessTimeout = 3 * time.Second

// witnessIdle is how many idle connections are kept per witness.
const witnessIdle = 4

type witnessRelay struct {
	addrs []string
	mu    sync.Mutex
	idle  [][]net.Conn
}

func newWitnessRelay(addrs []string) *witnessRelay {
	return &witnessRelay{addrs: addrs, idle: make([][]net.Conn, len(addrs))}
}

// relay sends req to witness i and returns its reply.
func (w *witnessRelay) relay(ctx context.Context, i int, req []byte) ([]byte, error) {
	if i < 0 || i >= len(w.addrs) {
		return nil, fmt.Errorf("runner: the enclave asked for witness %d; %d are configured (--witness)", i, len(w.addrs))
	}
	ctx, cancel := context.WithTimeout(ctx, witnessTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		c, reused, err := w.conn(ctx, i)
		if err != nil {
			return nil, err
		}
		deadline, _ := ctx.Deadline()
		_ = c.SetDeadline(deadline)
		err = witness.WriteMessage(c, req)
		var reply []byte
		if err == nil {
			reply, err = witness.ReadMessage(c)
		}
		if err == nil {
			w.put(i, c)
			return reply, nil
		}
		c.Close()
		// A pooled connection the witness closed meanwhile: once more on
		// a new one.
		if !reused || attempt > 0 || ctx.Err() != nil {
			return nil, err
		}
	}
}

func (w *witnessRelay) conn(ctx context.Context, i int) (net.Conn, bool, error) {
	w.mu.Lock()
	if n := len(w.idle[i]); n > 0 {
		c := w.idle[i][n-1]
		w.idle[i] = w.idle[i][:n-1]
		w.mu.Unlock()
		return c, true, nil
	}
	w.mu.Unlock()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", w.addrs[i])
	return c, false, err
}

func (w *witnessRelay) put(i int, c net.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.idle[i]) >= witnessIdle {
		c.Close()
		return
	}
	w.idle[i] = append(w.idle[i], c)
}

func (w *witnessRelay) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, cs := range w.idle {
		for _, c := range cs {
			c.Close()
		}
	}
}
