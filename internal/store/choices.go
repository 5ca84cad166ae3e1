package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/redline-dev/redline/internal/flow"
)

// Draft choices: what a person ticked in the Network view for one workload
// (or Service), kept server side so that a colleague opening the same
// workload sees the same draft. The store does not interpret the choices:
// the API validates them and stores their JSON.
//
// Key family (not in doc.go's table: the edge families are its subject):
//
//	c | endpoint encoding   → version(1) | varint saved at (Unix ns) | string saved by | choices (the rest)
//
// Drafts are not subject to retention: a draft lives until it is
// replaced or deleted.
const famChoices byte = 'c'

const choicesVersion byte = 1

// MaxChoicesBytes bounds a stored draft's choices.
const MaxChoicesBytes = 256 << 10

// ErrChoicesTooLarge is returned for choices over MaxChoicesBytes.
var ErrChoicesTooLarge = errors.New("draft choices too large")

// DraftChoices are a workload's stored draft.
type DraftChoices struct {
	Endpoint flow.Endpoint
	// Choices is the draft as the API encoded it (JSON).
	Choices []byte
	// SavedAt and SavedBy say when and by whom it was last saved.
	SavedAt time.Time
	SavedBy string
}

// PutChoices stores the draft of d.Endpoint, replacing any earlier one.
func (s *Store) PutChoices(ctx context.Context, d DraftChoices) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.Endpoint.Kind != flow.EndpointWorkload {
		return fmt.Errorf("store draft choices of %s: only a workload or Service has a draft", d.Endpoint)
	}
	if len(d.Choices) > MaxChoicesBytes {
		return fmt.Errorf("store draft choices of %s: %w (%d bytes, at most %d)", d.Endpoint, ErrChoicesTooLarge, len(d.Choices), MaxChoicesBytes)
	}
	key := endpointKeyPrefix(famChoices, d.Endpoint)
	val := encodeChoices(d)
	if err := s.update(func(txn *badger.Txn) error { return txn.Set(key, val) }); err != nil {
		return fmt.Errorf("store draft choices of %s: %w", d.Endpoint, err)
	}
	return nil
}

// Choices returns the stored draft of ep; found is false when there is none.
func (s *Store) Choices(ctx context.Context, ep flow.Endpoint) (d DraftChoices, found bool, err error) {
	if err := ctx.Err(); err != nil {
		return d, false, err
	}
	ep = canonicalEndpoint(ep)
	key := endpointKeyPrefix(famChoices, ep)
	found, err = s.get(key, func(v []byte) error { return decodeChoices(v, &d) })
	if err != nil {
		return DraftChoices{}, false, fmt.Errorf("read draft choices of %s: %w", ep, err)
	}
	d.Endpoint = ep
	return d, found, nil
}

// DeleteChoices removes the draft of ep (nothing when there is none).
func (s *Store) DeleteChoices(ctx context.Context, ep flow.Endpoint) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key := endpointKeyPrefix(famChoices, ep)
	if err := s.update(func(txn *badger.Txn) error { return txn.Delete(key) }); err != nil {
		return fmt.Errorf("delete draft choices of %s: %w", ep, err)
	}
	return nil
}

func encodeChoices(d DraftChoices) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+binary.MaxVarintLen64+len(d.SavedBy)+len(d.Choices))
	b = append(b, choicesVersion)
	b = binary.AppendVarint(b, unixNanos(d.SavedAt))
	b = appendString(b, clip(d.SavedBy))
	return append(b, d.Choices...)
}

func decodeChoices(v []byte, d *DraftChoices) error {
	if len(v) == 0 || v[0] != choicesVersion {
		return fmt.Errorf("%w: draft choices value of unknown version", errCorruptValue)
	}
	v = v[1:]
	at, n := binary.Varint(v)
	if n <= 0 {
		return fmt.Errorf("%w: draft choices: bad time", errCorruptValue)
	}
	v = v[n:]
	by, n, err := stringBytes(v)
	if err != nil {
		return fmt.Errorf("%w: draft choices: bad author", errCorruptValue)
	}
	d.SavedAt = time.Unix(0, at)
	d.SavedBy = string(by)
	d.Choices = append([]byte(nil), v[n:]...)
	return nil
}
