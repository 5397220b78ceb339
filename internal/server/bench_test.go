package server_test

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha512"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/server"
	"github.com/niomon/niomon/secretd"
)

// The benchmarks report throughput and, because the machine is shared and
// noisy, work per CPU-second: the CPU time of this process (server,
// secretd's enclave and runner, the SMTP server and the clients all run
// in it, so the figure is conservative) plus, on PostgreSQL, the CPU time
// of the database server's processes. The baseline, measured in the same
// run, is one PBKDF2-HMAC-SHA512 hash at 210,000 iterations: the password
// check at the heart of a Keycloak password login (its pbkdf2-sha512
// provider's default iteration count, the OWASP figure).

const keycloakIterations = 210_000

func BenchmarkPasswordHashBaseline(b *testing.B) {
	salt := []byte("0123456789abcdef")
	cpu0 := cpuTime(b, false)
	for b.Loop() {
		if _, err := pbkdf2.Key(sha512.New, "correct horse battery staple", salt, keycloakIterations, 64); err != nil {
			b.Fatal(err)
		}
	}
	reportPerCPU(b, cpu0, false, "hashes")
}

// cpuTime is this process's CPU time, plus the PostgreSQL server's when
// withPostgres.
func cpuTime(b testing.TB, withPostgres bool) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	t := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if withPostgres {
		t += postgresCPU()
	}
	return t
}

// postgresCPU sums the CPU time of the processes named postgres (the
// test cluster's server and backends).
func postgresCPU() time.Duration {
	var total int64
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open || s[open+1:close] != "postgres" {
			continue
		}
		fields := strings.Fields(s[close+1:])
		if len(fields) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(fields[11], 10, 64)
		k, _ := strconv.ParseInt(fields[12], 10, 64)
		total += u + k
	}
	return time.Duration(total) * time.Second / 100 // clock ticks (USER_HZ = 100)
}

func reportPerCPU(b *testing.B, cpu0 time.Duration, withPostgres bool, unit string) {
	elapsed := b.Elapsed().Seconds()
	cpu := (cpuTime(b, withPostgres) - cpu0).Seconds()
	b.ReportMetric(float64(b.N)/elapsed, unit+"/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu, unit+"/cpu-s")
	}
}

func benchEnv(b *testing.B, backend string) *env {
	b.Helper()
	return newEnv(b, envOptions{postgres: backend == "postgres", config: func(c *server.Config) {
		c.RateLimits = map[string]int{
			"challenges_per_email": 1 << 30, "challenges_per_ip": 1 << 30, "verify_per_ip": 1 << 30,
			"attempts_per_email": 1 << 30, "attempts_per_email_day": 1 << 30, "signups_per_ip": 1 << 30,
		}
	}})
}

// BenchmarkEmailLogin is a returning user's whole passwordless sign-in:
// ask for a code (the server mails it over SMTP), read it from the
// mailbox, send it back, get a session.
func BenchmarkEmailLogin(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			e := benchEnv(b, backend)
			const users = 64
			for i := range users {
				e.emailSignIn(e.client(), fmt.Sprintf("user%d@example.com", i), true)
			}
			var next atomic.Int64
			cpu0 := cpuTime(b, backend == "postgres")
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := e.client()
				for pb.Next() {
					addr := fmt.Sprintf("user%d@example.com", next.Add(1)%users)
					st, err := c.EmailStart(context.Background(), addr)
					if err != nil {
						b.Error(err)
						return
					}
					code, _ := e.mail(addr)
					if _, err := c.EmailVerify(context.Background(), st.FlowID, code, true); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportPerCPU(b, cpu0, backend == "postgres", "logins")
		})
	}
}

// BenchmarkSignup is a new user's whole sign-up: the email code round
// trip, then the wallet (a 24-word seed made in the enclave, sealed and
// stored by the runner) with a device session key, and the default
// addresses.
func BenchmarkSignup(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			e := benchEnv(b, backend)
			var next atomic.Int64
			cpu0 := cpuTime(b, backend == "postgres")
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c := e.client()
					s := e.emailSignIn(c, fmt.Sprintf("new%d@example.com", next.Add(1)), true)
					key, err := secretd.NewP256Key(secretd.KindSessionKey, time.Now().Add(time.Hour), secretd.RightSign, secretd.RightPolicy)
					if err != nil {
						b.Error(err)
						return
					}
					if w := e.createWallet(c, s.User.ID, key); len(w.Wallet.Addresses) != len(nioapi.DefaultAccounts) {
						b.Errorf("a sign-up ended with %d addresses", len(w.Wallet.Addresses))
						return
					}
				}
			})
			reportPerCPU(b, cpu0, backend == "postgres", "signups")
		})
	}
}
