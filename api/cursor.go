package api

import (
	"net/url"
	"strconv"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/partners"
)

// cursorKind is what a list's next_cursor holds.
type cursorKind int

const (
	cursorID       cursorKind = iota // the last row's ID (transfers, admin audit, notifications)
	cursorSlug                       // the last partner's slug
	cursorUID                        // the last message's UID (a mailbox folder)
	cursorUsername                   // the last account's username
)

// pageCursor reads the cursor query parameter of every list: empty asks
// for the first page; anything else must have the form of the list's
// next_cursor, or the request is a 400 naming "cursor" (a malformed
// cursor would otherwise match nothing and look like an empty page).
func pageCursor(q url.Values, kind cursorKind) (string, []partners.FieldError) {
	v := q.Get("cursor")
	if v == "" {
		return "", nil
	}
	ok := false
	switch kind {
	case cursorID:
		_, err := uuid.Parse(v)
		ok = err == nil && len(v) == 36
	case cursorSlug:
		ok = partners.ValidSlug(v)
	case cursorUsername:
		ok = partners.ValidUsername(v)
	case cursorUID:
		n, err := strconv.ParseInt(v, 10, 64)
		ok = err == nil && n >= 1 && strconv.FormatInt(n, 10) == v
	}
	if !ok {
		return "", []partners.FieldError{{Field: "cursor", Message: "must be the next_cursor of the previous page"}}
	}
	return v, nil
}
