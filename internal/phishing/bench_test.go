package phishing

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// benchSetup is the load: 100,000 deny entries (Polkadot's list
// and made-up ones to fill it) and 1,000 registered apps, with queries
// that mix blocked hosts, known-good hosts, look-alikes of registered
// apps and registered origins in equal parts.
func benchSetup(b *testing.B) (Config, []string) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		const cons, vows = "bcdfghjklmnprstvz", "aeiou"
		w := make([]byte, n)
		for i := range w {
			if i%2 == 0 {
				w[i] = cons[rng.IntN(len(cons))]
			} else {
				w[i] = vows[rng.IntN(len(vows))]
			}
		}
		return string(w)
	}
	suffixes := []string{"com", "io", "org", "xyz", "finance", "app", "co.uk", "exchange"}
	pd := polkadot(b)
	deny := append([]string(nil), pd.Deny...)
	for len(deny) < 100_000 {
		deny = append(deny, word(6+rng.IntN(8))+"-"+word(4)+"."+suffixes[rng.IntN(len(suffixes))])
	}
	var apps []App
	var registered, lookalikes []string
	for i := range 1000 {
		host := word(6+rng.IntN(7)) + "." + suffixes[rng.IntN(len(suffixes))]
		apps = append(apps, App{Name: fmt.Sprint("app", i), Origins: []string{"https://app." + host}})
		registered = append(registered, "https://app."+host)
		switch i % 4 {
		case 0: // a letter changed
			lookalikes = append(lookalikes, "https://"+host[:2]+"x"+host[3:])
		case 1: // a word added
			lookalikes = append(lookalikes, "https://claim-"+host)
		case 2: // embedded
			lookalikes = append(lookalikes, "https://app."+host+".evil.io")
		case 3: // another suffix
			lookalikes = append(lookalikes, "https://"+host[:len(host)-len(suffixes[0])]+"net")
		}
	}
	good := readLines(b, "testdata/known_good_domains.txt")
	var queries []string
	for i := range 4000 {
		switch i % 4 {
		case 0:
			queries = append(queries, "https://"+deny[rng.IntN(len(deny))])
		case 1:
			queries = append(queries, "https://"+good[rng.IntN(len(good))])
		case 2:
			queries = append(queries, lookalikes[rng.IntN(len(lookalikes))])
		case 3:
			queries = append(queries, registered[rng.IntN(len(registered))])
		}
	}
	return Config{Apps: apps, Lists: []*List{{Name: "bench", Deny: deny, Allow: pd.Allow}}}, queries
}

// BenchmarkCheck is one core's checks per second (go test
// ./internal/phishing -run '^$' -bench Check -cpu 1), with the memory
// the index of 100k entries and 1k apps takes as index-MiB.
func BenchmarkCheck(b *testing.B) {
	cfg, queries := benchSetup(b)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	s := c.Stats()
	if s.Deny < 99_000 || s.Targets != 1000 {
		b.Fatalf("stats %+v", s)
	}
	verdicts := map[Verdict]int{}
	for _, q := range queries {
		verdicts[c.Check(q).Verdict]++
	}
	// A quarter blocked from the list, a quarter look-alikes (blocked or
	// warned): the mix is what it says.
	if verdicts[Block]+verdicts[Warn] < len(queries)/2-len(queries)/50 {
		b.Fatalf("verdicts %v", verdicts)
	}
	index := float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
	b.ResetTimer()
	for i := range b.N {
		c.Check(queries[i%len(queries)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
	b.ReportMetric(index, "index-MiB")
	runtime.KeepAlive(c)
}
