package partners

import (
	"context"
	"fmt"

	"github.com/ferryhq/ferry/store"
)

// Stale reports which of logins no longer hold: their account was deleted
// or disabled, their partner disabled, the account lacks need, or anything
// the login depended on changed (Fingerprint). It returns the indexes into
// logins, for the protocol front ends to close those sessions.
func Stale(ctx context.Context, st *store.Store, logins []*Login, need Perm) ([]int, error) {
	if len(logins) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	ids := make([]string, 0, len(logins))
	for _, l := range logins {
		if !seen[l.AccountID] {
			seen[l.AccountID] = true
			ids = append(ids, l.AccountID)
		}
	}
	accts, err := st.AccountsByIDs(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("check live logins: %w", err)
	}
	current := map[string]string{} // account ID -> fingerprint; missing: refused now
	for i := range accts {
		a := &accts[i]
		if !a.Enabled || a.Partner == nil || !a.Partner.Enabled {
			continue
		}
		if perms, err := ParsePerm(a.Permissions); err != nil || !perms.Has(need) {
			continue
		}
		current[a.ID] = Fingerprint(a)
	}
	var stale []int
	for i, l := range logins {
		if fp, ok := current[l.AccountID]; !ok || fp != l.Fingerprint {
			stale = append(stale, i)
		}
	}
	return stale, nil
}
