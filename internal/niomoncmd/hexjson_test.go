package niomoncmd

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"testing"
)

func TestJSONRPCHexFormsAreReadStrictly(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		big, u64 string // what hexBig and hexUint64 read ("" for a refusal)
	}{
		{"zero", `"0x0"`, "0", "0"},
		{"a quantity", `"0x1f"`, "31", "31"},
		{"upper case digits", `"0xDE0B6B3A7640000"`, "1000000000000000000", "1000000000000000000"},
		{"a leading zero", `"0x01"`, "", ""},
		{"no digits", `"0x"`, "", ""},
		{"no prefix", `"1f"`, "", ""},
		{"a JSON number", `31`, "", ""},
		{"not hex", `"0xzz"`, "", ""},
		{"over 64 bits", `"0x10000000000000000"`, "18446744073709551616", ""},
		{"256 bits", `"0x` + "f0" + strings.Repeat("0", 62) + `"`, "108555083659983933209597798445644913612440610624038028786991485007418559037440", ""},
		{"over 256 bits", `"0x1` + strings.Repeat("0", 64) + `"`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b hexBig
			if err := json.Unmarshal([]byte(tc.in), &b); (err == nil) != (tc.big != "") || (err == nil && (*bigOf(&b)).String() != tc.big) {
				t.Fatalf("hexBig: %v, %v; want %q", err, bigOf(&b), tc.big)
			}
			var u hexUint64
			err := json.Unmarshal([]byte(tc.in), &u)
			if (err == nil) != (tc.u64 != "") || (err == nil && jsonNumber(uint64(u)) != tc.u64) {
				t.Fatalf("hexUint64: %v, %d; want %q", err, u, tc.u64)
			}
		})
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{{`"0x"`, true}, {`"0x00ff"`, true}, {`"0x0"`, false}, {`"00ff"`, false}, {`"0xgg"`, false}, {`[1]`, false}} {
		var b hexBytes
		if err := json.Unmarshal([]byte(tc.in), &b); (err == nil) != tc.ok {
			t.Fatalf("hexBytes %s: %v, want ok %v", tc.in, err, tc.ok)
		}
	}
}

func bigOf(b *hexBig) *big.Int { return (*big.Int)(b) }

func jsonNumber(v uint64) string { return strconv.FormatUint(v, 10) }
