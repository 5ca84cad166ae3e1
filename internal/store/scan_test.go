package store

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/redline-dev/redline/internal/flow"
)

// TestRangeIterMatchesFilter checks that rangeIter, which steps over some
// gaps and seeks over others, yields exactly the keys whose bucket is in
// its spans, in order, whatever the spans and however many keys the gaps
// hold.
func TestRangeIterMatchesFilter(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: t.TempDir(), FlushInterval: time.Hour, Logger: slog.New(slog.DiscardHandler),
		Clock: func() time.Time { return time.Unix(0, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(7, 7))
	const endpoints, hours = 40, 200
	err = s.update(func(txn *badger.Txn) error {
		for src := range uint32(endpoints) {
			// Endpoints with from 1 to about 400 keys, spread or bunched.
			n := 1 + r.IntN(1+r.IntN(400))
			lo := uint32(r.IntN(hours))
			hi := min(hours, lo+1+uint32(r.IntN(hours)))
			for range n {
				body := makeEdgeBody(makeRef(firstNamespaceGroup, src+1), lo+uint32(r.IntN(int(hi-lo))),
					makeRef(3, uint32(1+r.IntN(50))), flow.ProtocolTCP, uint16(r.IntN(4)))
				if err := txn.Set(body.appendKey(nil, famEgress), []byte{1}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys [][]byte
	err = s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{famEgress}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for trial := range 300 {
		var spans []span
		for h := uint32(r.IntN(hours / 4)); h < hours && len(spans) < 1+trial%4; {
			hi := h + uint32(r.IntN(30))
			spans = append(spans, span{h, hi})
			h = hi + 2 + uint32(r.IntN(60))
		}
		if trial%10 == 0 {
			spans = append(spans, span{hours + 5, maxHour})
		}
		var want [][]byte
		for _, k := range keys {
			b := parseOrFail(t, k).hour
			if slices.ContainsFunc(spans, func(s span) bool { return s.lo <= b && b <= s.hi }) {
				want = append(want, k)
			}
		}
		var got [][]byte
		err := s.view(func(txn *badger.Txn) error {
			it := newRangeIter(txn, []byte{famEgress}, spans)
			defer it.close()
			for ; it.valid(); it.next() {
				k := it.it.Item().KeyCopy(nil)
				if p := parseOrFail(t, k); p.hour != it.bucket || p.self != it.ref() {
					t.Fatalf("rangeIter at %x says bucket %d of %x", k, it.bucket, it.ref())
				}
				got = append(got, k)
			}
			return it.err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("spans %v: rangeIter yields %d keys, want %d", spans, len(got), len(want))
		}
	}
}

func parseOrFail(t *testing.T, k []byte) parsedKey {
	t.Helper()
	p, err := parseEdgeKey(k[1:])
	if err != nil {
		t.Fatal(err)
	}
	return p
}
