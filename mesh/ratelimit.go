package mesh

import "time"

// tokenBucket is a rate limiter owned by the reactor (not safe for
// concurrent use).
type tokenBucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int, now time.Time) *tokenBucket {
	return &tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// allow takes a token if one is available.
func (tb *tokenBucket) allow(now time.Time) bool {
	if d := now.Sub(tb.last); d > 0 {
		tb.tokens = min(tb.burst, tb.tokens+d.Seconds()*tb.rate)
		tb.last = now
	}
	if tb.tokens < 1 {
		return false
	}
	tb.tokens--
	return true
}
