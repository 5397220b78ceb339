package wire

import (
	"testing"

	"github.com/flynn/noise"
)

// Handshake benchmarks: our crypto/ecdh DH against flynn/noise's DH25519,
// in one run. Per core:
//
//	go test ./internal/wire -run '^$' -bench Handshake -cpu 1
//
// "both sides" runs initiator and responder; "server" runs only what the
// enclave does per connection (read message 1, write message 2).

func benchConfigs(flynn bool, client, server PrivateKey) (ic, rc func() noise.Config) {
	spub := server.Public()
	if flynn {
		return func() noise.Config { return flynnConfig(true, client, &spub) },
			func() noise.Config { return flynnConfig(false, server, nil) }
	}
	return func() noise.Config { return NoiseConfig(true, client, &spub) },
		func() noise.Config { return NoiseConfig(false, server, nil) }
}

func BenchmarkHandshake(b *testing.B) {
	client, _ := GeneratePrivateKey()
	server, _ := GeneratePrivateKey()
	hello, _ := Marshal(ClientHello{Timestamp: 1, AuthMethod: AuthStaticKey})
	for _, tc := range []struct {
		name  string
		flynn bool
	}{{"flynn-DH25519", true}, {"crypto-ecdh", false}} {
		ic, rc := benchConfigs(tc.flynn, client, server)
		b.Run("both-sides/"+tc.name, func(b *testing.B) {
			for range b.N {
				ihs, _ := noise.NewHandshakeState(ic())
				rhs, _ := noise.NewHandshakeState(rc())
				m1, _, _, err := ihs.WriteMessage(nil, hello)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, _, err := rhs.ReadMessage(nil, m1); err != nil {
					b.Fatal(err)
				}
				m2, _, _, _ := rhs.WriteMessage(nil, nil)
				if _, _, _, err := ihs.ReadMessage(nil, m2); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
		b.Run("server/"+tc.name, func(b *testing.B) {
			ihs, _ := noise.NewHandshakeState(ic())
			m1, _, _, _ := ihs.WriteMessage(nil, hello)
			b.ResetTimer()
			for range b.N {
				rhs, _ := noise.NewHandshakeState(rc())
				if _, _, _, err := rhs.ReadMessage(nil, m1); err != nil {
					b.Fatal(err)
				}
				if _, _, _, err := rhs.WriteMessage(nil, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}
