package store_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/store"
)

// Drafts round-trip per workload, survive a reopen, are replaced by the
// next save, never mix with the edge families, and are not expired by
// retention.
func TestDraftChoices(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, store.Options{Dir: dir})
	frontend, cart := wl("shop", "frontend"), wl("shop", "cart")
	svc := flow.WorkloadEndpoint("shop", "Service", "frontend")
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	if _, found, err := s.Choices(ctx, frontend); err != nil || found {
		t.Fatalf("Choices before a save: found %v, err %v", found, err)
	}
	first := store.DraftChoices{Endpoint: frontend, Choices: []byte(`{"egress":"block-all"}`), SavedAt: at, SavedBy: "alice"}
	if err := s.PutChoices(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := s.PutChoices(ctx, store.DraftChoices{Endpoint: svc, Choices: []byte(`{"ingress":"allow-all"}`), SavedAt: at, SavedBy: "carol"}); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.Choices(ctx, frontend)
	if err != nil || !found {
		t.Fatalf("Choices: found %v, err %v", found, err)
	}
	if !bytes.Equal(got.Choices, first.Choices) || !got.SavedAt.Equal(at) || got.SavedBy != "alice" || got.Endpoint != frontend {
		t.Errorf("Choices = %+v, want %+v", got, first)
	}
	if _, found, _ := s.Choices(ctx, cart); found {
		t.Error("cart has no draft, but one was found")
	}
	if got, _, _ := s.Choices(ctx, svc); string(got.Choices) != `{"ingress":"allow-all"}` {
		t.Errorf("the Service's draft = %q: a Service and its workload keep separate drafts", got.Choices)
	}

	second := store.DraftChoices{Endpoint: frontend, Choices: []byte(`{}`), SavedAt: at.Add(time.Minute), SavedBy: "bob"}
	if err := s.PutChoices(ctx, second); err != nil {
		t.Fatal(err)
	}
	// Drafts are not edges: edge queries and retention ignore them.
	if in, out, err := s.WorkloadEdges(ctx, frontend, time.Time{}, time.Time{}); err != nil || len(in)+len(out) != 0 {
		t.Errorf("WorkloadEdges after drafts: %d, %d edges, err %v", len(in), len(out), err)
	}
	if _, err := s.EnforceRetention(ctx, at.Add(400*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, store.Options{Dir: dir})
	got, found, err = s.Choices(ctx, frontend)
	if err != nil || !found || string(got.Choices) != `{}` || got.SavedBy != "bob" || !got.SavedAt.Equal(at.Add(time.Minute)) {
		t.Errorf("after a reopen: %+v found %v err %v, want bob's {} draft", got, found, err)
	}

	if err := s.DeleteChoices(ctx, frontend); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.Choices(ctx, frontend); found {
		t.Error("draft still there after DeleteChoices")
	}

	for _, tc := range []struct {
		name string
		d    store.DraftChoices
		want error
	}{
		{"too large", store.DraftChoices{Endpoint: cart, Choices: []byte(strings.Repeat("x", store.MaxChoicesBytes+1))}, store.ErrChoicesTooLarge},
		{"address", store.DraftChoices{Endpoint: flow.Endpoint{Kind: flow.EndpointAddress}}, nil},
	} {
		err := s.PutChoices(ctx, tc.d)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: PutChoices error %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, found, _ := s.Choices(ctx, cart); found {
		t.Error("a refused draft was stored")
	}
}
