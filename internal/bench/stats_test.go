package main

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	s := summarize([]float64{5, 1, 4, 2, 3})
	if s.N != 5 || s.Med != 3 || s.Min != 1 || s.Max != 5 || s.P25 != 2 || s.P75 != 4 {
		t.Errorf("summarize: %+v", s)
	}
	if s := summarize([]float64{1, 2}); s.Med != 1.5 {
		t.Errorf("median of 1, 2: %v", s.Med)
	}
	if s := summarize(nil); !math.IsNaN(s.Med) {
		t.Errorf("empty: %+v", s)
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{fmtDur(0.00123), "1.23 ms"},
		{fmtDur(42e-6), "42 µs"},
		{fmtDur(2), "2 s"},
		{fmtNum(1234), "1234"},
		{fmtNum(123456), "123k"},
		{fmtNum(2.5e6), "2.5M"},
		{fmtRatio(summarize([]float64{0.5, 0.7, 0.6})), "0.60x (0.50–0.70)"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestRatios(t *testing.T) {
	r := ratios([]float64{2, 3, 9}, []float64{1, 3})
	if len(r) != 2 || r[0] != 2 || r[1] != 1 {
		t.Errorf("ratios: %v", r)
	}
}
