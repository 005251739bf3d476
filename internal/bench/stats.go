package main

import (
	"fmt"
	"math"
	"slices"
)

// summary describes a set of samples: their median and spread.
type summary struct {
	N                  int
	Med, Min, Max      float64
	P25, P75, P90, P99 float64
}

// quantile returns the q-quantile of sorted samples (linear interpolation).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

func summarize(xs []float64) summary {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return summary{Med: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	return summary{
		N: len(s), Med: quantile(s, .5), Min: s[0], Max: s[len(s)-1],
		P25: quantile(s, .25), P75: quantile(s, .75), P90: quantile(s, .90), P99: quantile(s, .99),
	}
}

// fmtDur formats seconds with a unit that keeps 3 significant digits.
func fmtDur(s float64) string {
	switch {
	case math.IsNaN(s):
		return "n/a"
	case s >= 1:
		return fmt.Sprintf("%.3g s", s)
	case s >= 1e-3:
		return fmt.Sprintf("%.3g ms", s*1e3)
	case s >= 1e-6:
		return fmt.Sprintf("%.3g µs", s*1e6)
	default:
		return fmt.Sprintf("%.3g ns", s*1e9)
	}
}

// fmtNum formats a count or rate with 3 significant digits and k/M suffixes.
func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.3gk", v/1e3)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// fmtMB formats bytes per second as MB/s.
func fmtMB(bps float64) string { return fmt.Sprintf("%.0f MB/s", bps/1e6) }

// fmtMiB formats bytes as MiB.
func fmtMiB(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

// spread renders "median (min–max, n=N)" with the given formatter.
func spread(s summary, f func(float64) string) string {
	return fmt.Sprintf("%s (%s–%s, n=%d)", f(s.Med), f(s.Min), f(s.Max), s.N)
}

// fmtRatio renders a ratio and the spread of per-repetition ratios.
func fmtRatio(s summary) string {
	if s.N <= 1 {
		return fmt.Sprintf("%.2fx", s.Med)
	}
	return fmt.Sprintf("%.2fx (%.2f–%.2f)", s.Med, s.Min, s.Max)
}

// ratios divides a[i] by b[i] for paired repetitions.
func ratios(a, b []float64) []float64 {
	n := min(len(a), len(b))
	out := make([]float64, n)
	for i := range n {
		out[i] = a[i] / b[i]
	}
	return out
}
