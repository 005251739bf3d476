package crypto

import (
	"math"
	"testing"
)

func TestCheckSeq(t *testing.T) {
	for _, tc := range []struct {
		highest, seq uint64
		want         SeqVerdict
	}{
		{0, 1, SeqNew},
		{0, 0, SeqRetransmit}, // sequences start at 1: 0 is never new
		{0, 2, SeqGap},
		{0, math.MaxUint64, SeqGap},
		{1, 1, SeqRetransmit},
		{1, 2, SeqNew},
		{5, 3, SeqRetransmit},
		{5, 5, SeqRetransmit},
		{5, 6, SeqNew},
		{5, 7, SeqGap},
		{5, 1000, SeqGap},
		{math.MaxUint64 - 1, math.MaxUint64, SeqNew},
		{math.MaxUint64, math.MaxUint64, SeqRetransmit},
		{math.MaxUint64, 0, SeqRetransmit}, // no wrap-around to 0
		{math.MaxUint64, 1, SeqRetransmit},
	} {
		if got := CheckSeq(tc.highest, tc.seq); got != tc.want {
			t.Errorf("CheckSeq(%d, %d) = %v, want %v", tc.highest, tc.seq, got, tc.want)
		}
	}
}

func TestSeqVerdictString(t *testing.T) {
	for v, want := range map[SeqVerdict]string{SeqNew: "new", SeqRetransmit: "retransmit", SeqGap: "gap", 7: "SeqVerdict(invalid)"} {
		if got := v.String(); got != want {
			t.Errorf("SeqVerdict(%d).String() = %q, want %q", int(v), got, want)
		}
	}
}
