package enclave

import "time"

// Every limit of the enclave, named, with what it bounds. A request that
// passes the wire's limits (internal/wire/limits.go) meets these next.

// Parameters of requests.
const (
	// maxOIDLen bounds a wallet id: it is the sealed object's id, part of
	// every AEAD associated data and of the host link's messages
	// (hostlink.MaxIDLen is 256).
	maxOIDLen = 200
	// maxAttributes, maxAttrKeyLen and maxAttrValueLen bound the
	// attributes sealed with a wallet: at most 32 × 1 KiB.
	maxAttributes   = 32
	maxAttrKeyLen   = 64
	maxAttrValueLen = 1024
	// maxPolicyIDLen bounds the published protocol's policy id.
	maxPolicyIDLen = 128
	// maxNonceLen bounds an attestation nonce (NSM accepts 512 bytes).
	maxNonceLen = 512
	// maxMnemonicBytes bounds a plaintext mnemonic (dev import): 24 words
	// of at most 8 letters and their spaces need 215 bytes.
	maxMnemonicBytes = 2048
	// maxImportCiphertext bounds an HPKE-sealed mnemonic: the longest
	// phrase plus the AEAD tag, with room to spare.
	maxImportCiphertext = 1024
	// importKeyIDLen is the length of an import key's name.
	importKeyIDLen = 16
)

// Sessions and requests.
const (
	// defaultMaxSessions bounds concurrent client sessions: each holds a
	// goroutine, a Noise state and up to maxInFlight requests.
	defaultMaxSessions = 1024
	// maxInFlight bounds the requests one session runs at once; further
	// requests wait, which pushes back on the client.
	maxInFlight = 32
	// requestTimeout bounds one request from its reading to its answer:
	// its waits for room and for a slot, and the method call with its
	// storage round trips. A request still waiting at its end is answered
	// "busy". Clients take silence much longer than this for a stopped
	// runner (secretd.Options.SilenceTimeout, 60s by default).
	requestTimeout = 30 * time.Second
	// bootTimeout bounds loading or making the master key at boot.
	bootTimeout = 30 * time.Second
	// defaultClockSkew bounds how far a ClientHello's time may be from the
	// enclave's clock.
	defaultClockSkew = 15 * time.Minute
)

// Memory.
const (
	// defaultCacheSize bounds the unsealed wallets kept in memory; the
	// derived-node cache holds twice as many entries.
	defaultCacheSize = 4096
	// defaultReplayCacheSize bounds the nonces remembered: 45 to 64 bytes
	// each, and n of them sustain n / (2 × policy.Window) stamped
	// requests per second (2,180/s for 2^19).
	defaultReplayCacheSize = 1 << 19
	// replayShareDivisor sets the share of the replay cache one wallet may
	// hold: 1/64 of it. One app's own wallet, stamping as fast as it can,
	// then fills at most that share, and every other wallet keeps being
	// served (see policy.ReplayCache).
	replayShareDivisor = 64
	// maxRequestBytesInFlight bounds the bytes of the requests running at
	// once, over all sessions (each holds a few copies of its request
	// while it runs: decrypted, decoded, re-encoded to check it is
	// canonical). Without it, 1,024 sessions of 32 requests of up to
	// wire.MaxMessage would be gigabytes in an enclave of 48 MiB. A
	// request waits for room, in the order they came (small ones cannot
	// starve a large one) and within requestTimeout; wire.MaxMessage
	// always fits.
	maxRequestBytesInFlight = 4 << 20
	// maxTypedDataInFlight bounds the EIP-712 documents being parsed at
	// once across all sessions. One document is at most 64 KiB of JSON
	// (eth.MaxTypedDataSize), but its parse and encoding may hash up to
	// 4 MiB (eth.MaxTypedDataEncoded), held while it runs; with 1,024
	// sessions of 32 requests each, that would be unbounded in practice.
	// Two at a time keep it under ~10 MiB of the enclave's 48 MiB; others
	// wait their turn (within requestTimeout).
	maxTypedDataInFlight = 2
)

// Disaster recovery and joins.
const (
	// maxHolders bounds a DRK's share holders.
	maxHolders = 16
	// maxHolderName bounds a holder's (or a witness's) name in the
	// transcript.
	maxHolderName = 64
	// maxWitnesses bounds the freshness witnesses fixed at genesis.
	maxWitnesses = 16
	// maxStatement bounds a genesis or rotation statement: 16 holders
	// with hybrid age recipients (~2 KiB each) fit.
	maxStatement = 64 << 10
	// joinMaxAge is how old a peer enclave's attestation may be.
	joinMaxAge = 5 * time.Minute
)

// Freshness (fresh.go).
const (
	// witnessLease is the read lease asked of the witnesses: how long an
	// enclave serves from the heads it read. A policy change waits up to
	// this long for other enclaves' leases to run out.
	witnessLease = 3 * time.Second
	// witnessRefresh is how often the heads are read again (a third of
	// the lease: two reads may fail before the lease runs out).
	witnessRefresh = witnessLease / 3
	// witnessTimeout bounds one witness request, relay included.
	witnessTimeout = 2 * time.Second
	// leaseAttempts bounds the witness reads a request makes for a lease
	// it lacks: a busy witness or relay may miss one read's timeout.
	leaseAttempts = 3
	// leaseRetryDelay separates those reads (a witness that refused a
	// connection is not asked again at once).
	leaseRetryDelay = 250 * time.Millisecond
	// leaseMarginDivisor: a tenth of each lease and each wait is kept as a
	// margin for clocks that run at slightly different rates.
	leaseMarginDivisor = 10
	// maxIndexRetries bounds the retries of a bucket write that another
	// enclave's write overtook.
	maxIndexRetries = 3
	// maxAheadRereads bounds the witness reads a request makes when the
	// store holds a later bucket than the heads it read certify.
	maxAheadRereads = 2
	// maxSettleRereads bounds how often a bucket is taken again because
	// a newer head came while it was read and settled (a write elsewhere
	// each time).
	maxSettleRereads = 3
	// maxBallotRetries bounds the higher ballots one write tries (each
	// moves the witnesses that are behind up to wproto.MaxBallotStep);
	// the next write goes on from where they are.
	maxBallotRetries = 4
	// maxReadPages bounds the pages of one witness read (of
	// wproto.MaxReadHeads heads each): 4,096 buckets take 8.
	maxReadPages = 16
	// indexCacheBytes bounds the index buckets kept verified in memory,
	// by size: the whole index up to about 45,000 wallets (56 bytes each,
	// and bucketOverhead per bucket; a wallet loaded from the store then
	// needs no bucket read), a few dozen buckets at ten million wallets
	// (~140 KiB each), never more than this.
	indexCacheBytes = 4 << 20
	// bucketOverhead is what a cached bucket holds besides its entries
	// (its struct, two digests, the LRU's list element, entry and map
	// slot), rounded up.
	bucketOverhead = 384
)
