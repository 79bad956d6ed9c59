package isin

import "testing"

func TestValid(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"KR7005930003", true},  // Samsung Electronics
		{"KR7000660001", true},  // SK hynix
		{"US0378331005", true},  // Apple
		{"US5949181045", true},  // Microsoft
		{"GB0002634946", true},  // BAE Systems
		{"AU0000XVGZA3", true},  // letters inside the NSIN
		{"DE000BAY0017", true},  // Bayer
		{"KR7005930004", false}, // wrong check digit
		{"kr7005930003", false}, // lower case
		{"KR700593000", false},  // too short
		{"KR70059300033", false},
		{"1R7005930003", false}, // country code must be letters
		{"KR700593000X", false}, // check digit must be a digit
		{"KR70059300-3", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := Valid([]byte(tt.in)); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if got := ValidString(tt.in); got != tt.want {
			t.Errorf("ValidString(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCheckDigit(t *testing.T) {
	d, ok := CheckDigit("KR700593000")
	if !ok || d != '3' {
		t.Fatalf("CheckDigit(KR700593000) = %q, %v; want '3', true", d, ok)
	}
	if _, ok := CheckDigit("KR70059300!"); ok {
		t.Fatal("CheckDigit accepted a punctuation character")
	}
}

func TestValidDoesNotAllocate(t *testing.T) {
	b := []byte("KR7005930003")
	if n := testing.AllocsPerRun(100, func() { Valid(b) }); n != 0 {
		t.Fatalf("Valid allocates %v times per call", n)
	}
}
