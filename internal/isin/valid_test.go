package isin_test

import (
	"math/rand/v2"
	"testing"

	"tickcompact/internal/isin"
	"tickcompact/internal/tools/tradegen"
)

// reference is the definition: 12 characters, two upper-case letters, nine
// upper-case letters or digits, and the check digit CheckDigit computes.
func reference(s []byte) bool {
	if len(s) != isin.Length {
		return false
	}
	for i, c := range s[:isin.Length-1] {
		letter, digit := c >= 'A' && c <= 'Z', c >= '0' && c <= '9'
		if !letter && (i < 2 || !digit) {
			return false
		}
	}
	d, ok := isin.CheckDigit(string(s[:isin.Length-1]))
	return ok && d == s[isin.Length-1]
}

// TestValidMatchesCheckDigit compares Valid with reference on the
// generator's instruments, on random bodies with letters anywhere, with the
// right check digit and a wrong one, and on every one-byte change of some
// instruments: each position with each byte value.
func TestValidMatchesCheckDigit(t *testing.T) {
	check := func(s []byte) {
		t.Helper()
		if got, want := isin.Valid(s), reference(s); got != want {
			t.Fatalf("Valid(%q) = %v, the definition says %v", s, got, want)
		}
	}
	universe := tradegen.Universe(100_000)
	for _, in := range universe {
		check([]byte(in.ISIN))
	}
	// The universe's codes are all digits: add letters anywhere in the body.
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		body := make([]byte, isin.Length-1)
		for i := range body {
			body[i] = alnum[rng.IntN(len(alnum))]
		}
		digit, _ := isin.CheckDigit(string(body))
		check(append(body, digit))
		check(append(body, '0'+(digit-'0'+1)%10))
	}
	for _, in := range append(universe[:20], universe[len(universe)-20:]...) {
		for pos := 0; pos < isin.Length; pos++ {
			for c := 0; c < 256; c++ {
				s := []byte(in.ISIN)
				s[pos] = byte(c)
				check(s)
			}
		}
	}
	for _, s := range []string{"", "US0378331005", "AU0000XVGZA3", "US037833100", "US03783310055", "ZZZZZZZZZZZ0", "99999999999X"} {
		check([]byte(s))
	}
}

func FuzzValid(f *testing.F) {
	for _, seed := range []string{"KR7005930003", "AU0000XVGZA3", "KR7005930004", "kr7005930003", "KR70059300-3"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		if got, want := isin.Valid(s), reference(s); got != want {
			t.Fatalf("Valid(%q) = %v, the definition says %v", s, got, want)
		}
	})
}
