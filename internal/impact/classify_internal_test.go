package impact

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestFirstRanks: selecting by count, then by order among the ties at the
// boundary, gives the first k in order.
func TestFirstRanks(t *testing.T) {
	order := func(x, y rank) int {
		return cmp.Or(cmp.Compare(y.count, x.count), cmp.Compare(x.i, y.i))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := 1 + r.IntN(300)
		spread := 1 + r.IntN(20) // few distinct counts: many ties
		rs := make([]rank, n)
		for i := range rs {
			rs[i] = rank{count: uint64(r.IntN(spread)), i: int32(i)}
		}
		r.Shuffle(n, func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
		want := slices.SortedFunc(slices.Values(rs), order)
		k := 1 + r.IntN(n)
		got := firstRanks(slices.Clone(rs), k, order)
		slices.SortFunc(got, order)
		if !slices.Equal(got, want[:k]) {
			t.Fatalf("first %d of %v:\n got  %v\n want %v", k, rs, got, want[:k])
		}
	}
}
