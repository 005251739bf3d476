package crypto

// SeqVerdict is what a receiver does with a pairwise message, given its
// sequence number and the highest sequence number already delivered in that
// direction.
type SeqVerdict int

const (
	// SeqNew is the next message in order: deliver it, then record its
	// sequence number as the highest delivered, in the same transaction.
	SeqNew SeqVerdict = iota
	// SeqRetransmit is a message already delivered: acknowledge it again
	// quietly and do not show it twice.
	SeqRetransmit
	// SeqGap is a message from beyond the next one: do not accept it; the
	// sender retries in order.
	SeqGap
)

// String returns "new", "retransmit" or "gap".
func (v SeqVerdict) String() string {
	switch v {
	case SeqNew:
		return "new"
	case SeqRetransmit:
		return "retransmit"
	case SeqGap:
		return "gap"
	}
	return "SeqVerdict(invalid)"
}

// CheckSeq applies the sequence rule of pairwise channels. Sequences start
// at 1, and highestDelivered is 0 before the first delivery. seq ==
// highestDelivered+1 is new, seq <= highestDelivered (including the never
// sent 0) is a retransmit and anything larger is a gap. Once
// highestDelivered is the largest uint64, nothing is new any more.
func CheckSeq(highestDelivered, seq uint64) SeqVerdict {
	switch {
	case seq <= highestDelivered:
		return SeqRetransmit
	case seq-highestDelivered == 1:
		return SeqNew
	default:
		return SeqGap
	}
}
