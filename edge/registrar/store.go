// Package registrar is the built-in SIP registrar and proxy of sipws: an RFC 3261 registrar
// whose bindings live in a NATS JetStream key-value bucket (so every router replica sees the
// same bindings and they outlive a router restart), and a forking proxy that delivers requests
// for a registered address-of-record to each of its flows.
package registrar

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Contact is one binding of an address-of-record.
type Contact struct {
	// URI is the Contact URI as the UA sent it (the Request-URI of requests forwarded to it).
	URI string `json:"uri"`
	// Params are the Contact header parameters without expires (+sip.instance, reg-id, q...).
	Params string `json:"params,omitempty"`
	// Flow is the flow token of the WebSocket connection the REGISTER came over.
	Flow string `json:"flow"`
	// Expires is when the binding ends, unix seconds.
	Expires int64 `json:"expires"`
	// Instance and RegID identify an RFC 5626 outbound registration: a refresh over a new
	// flow replaces the binding of the same instance and reg-id.
	Instance string `json:"instance,omitempty"`
	RegID    int    `json:"regId,omitempty"`
	// Path is the Path the REGISTER carried (RFC 3327), top first.
	Path []string `json:"path,omitempty"`
	// CallID and CSeq order refreshes (RFC 3261 §10.3 step 7).
	CallID string `json:"callId"`
	CSeq   uint32 `json:"cseq"`
}

// Record is what the bucket holds for one address-of-record.
type Record struct {
	AOR      string    `json:"aor"`
	Contacts []Contact `json:"contacts"`
}

// live drops the contacts that expired by now.
func (r *Record) live(now time.Time) {
	r.Contacts = slices.DeleteFunc(r.Contacts, func(c Contact) bool { return c.Expires <= now.Unix() })
}

// Store keeps bindings in a JetStream key-value bucket: one key per AOR ("a.<base64url>")
// and one per flow ("f.<token>": the AORs with a contact over that flow, so a closed flow's
// bindings are found without a scan). Every change is a compare-and-set on the key's
// revision, retried on conflict, so router replicas can update the same AOR concurrently.
type Store struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// ErrConflict is returned when an update kept losing the compare-and-set race.
var ErrConflict = errors.New("registrar: too many concurrent updates of one binding")

// casRetries bounds compare-and-set retries of one update.
const casRetries = 16

// OpenStore creates (or opens) the bucket. ttl bounds how long a key lives after its last
// update (at least the longest registration); replicas is the bucket's replication factor.
func OpenStore(ctx context.Context, nc *nats.Conn, bucket string, ttl time.Duration, replicas int) (*Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if replicas < 1 {
		replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "sipws registrar bindings",
		History:     1,
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("key-value bucket %s (is JetStream enabled on the NATS server?): %w", bucket, err)
	}
	return &Store{kv: kv, now: time.Now}, nil
}

func aorKey(aor string) string { return "a." + base64.RawURLEncoding.EncodeToString([]byte(aor)) }
func flowKey(token string) string {
	return "f." + token
}

// Get returns the AOR's record with only live contacts, and whether the AOR is known (has a
// key, even with no contacts left).
func (s *Store) Get(ctx context.Context, aor string) (Record, bool, error) {
	rec, _, found, err := s.get(ctx, aorKey(aor))
	if err != nil {
		return Record{}, false, err
	}
	rec.AOR = aor
	rec.live(s.now())
	return rec, found, nil
}

func (s *Store) get(ctx context.Context, key string) (Record, uint64, bool, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Record{}, 0, false, nil
	}
	if err != nil {
		return Record{}, 0, false, fmt.Errorf("read binding %s: %w", key, err)
	}
	var rec Record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return Record{}, 0, false, fmt.Errorf("decode binding %s: %w", key, err)
	}
	return rec, e.Revision(), true, nil
}

// Update applies change to the AOR's record (expired contacts already dropped) and stores the
// result with a compare-and-set, retrying with a fresh read on conflict. change may return an
// error to abort without writing. It returns the stored record.
func (s *Store) Update(ctx context.Context, aor string, change func(*Record) error) (Record, error) {
	key := aorKey(aor)
	for range casRetries {
		rec, rev, found, err := s.get(ctx, key)
		if err != nil {
			return Record{}, err
		}
		rec.AOR = aor
		rec.live(s.now())
		before := flows(rec.Contacts)
		if err := change(&rec); err != nil {
			return Record{}, err
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return Record{}, fmt.Errorf("encode binding: %w", err)
		}
		if found {
			_, err = s.kv.Update(ctx, key, b, rev)
		} else {
			_, err = s.kv.Create(ctx, key, b)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // another replica wrote first: read again
		}
		if err != nil {
			return Record{}, fmt.Errorf("write binding of %s: %w", aor, err)
		}
		for tok := range flows(rec.Contacts) {
			if !before[tok] {
				if err := s.indexFlow(ctx, tok, aor); err != nil {
					return rec, err
				}
			}
		}
		return rec, nil
	}
	return Record{}, ErrConflict
}

func flows(cs []Contact) map[string]bool {
	m := make(map[string]bool, len(cs))
	for _, c := range cs {
		m[c.Flow] = true
	}
	return m
}

// flowIndex is the value of a flow key.
type flowIndex struct {
	AORs []string `json:"aors"`
}

// indexFlow records that the flow has a contact of aor.
func (s *Store) indexFlow(ctx context.Context, token, aor string) error {
	key := flowKey(token)
	for range casRetries {
		var idx flowIndex
		var rev uint64
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("read flow index: %w", err)
		default:
			if err := json.Unmarshal(e.Value(), &idx); err != nil {
				return fmt.Errorf("decode flow index: %w", err)
			}
			rev = e.Revision()
		}
		if slices.Contains(idx.AORs, aor) {
			return nil
		}
		idx.AORs = append(idx.AORs, aor)
		b, _ := json.Marshal(idx)
		if rev != 0 {
			_, err = s.kv.Update(ctx, key, b, rev)
		} else {
			_, err = s.kv.Create(ctx, key, b)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write flow index: %w", err)
		}
		return nil
	}
	return ErrConflict
}

// RemoveFlow removes every contact registered over the flow (it closed or failed) and returns
// how many were removed.
func (s *Store) RemoveFlow(ctx context.Context, token string) (int, error) {
	e, err := s.kv.Get(ctx, flowKey(token))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read flow index: %w", err)
	}
	var idx flowIndex
	if err := json.Unmarshal(e.Value(), &idx); err != nil {
		return 0, fmt.Errorf("decode flow index: %w", err)
	}
	n := 0
	for _, aor := range idx.AORs {
		removed := 0
		if _, err := s.Update(ctx, aor, func(r *Record) error {
			before := len(r.Contacts)
			r.Contacts = slices.DeleteFunc(r.Contacts, func(c Contact) bool { return c.Flow == token })
			removed = before - len(r.Contacts)
			return nil
		}); err != nil {
			return n, err
		}
		n += removed
	}
	if err := s.kv.Delete(ctx, flowKey(token)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return n, fmt.Errorf("delete flow index: %w", err)
	}
	return n, nil
}
