package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// etagOf is a strong ETag of a representation: a hash of its JSON, so it
// changes whenever anything a client sees changes (usage counters too).
func etagOf(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// ifMatch returns a check of the request's If-Match header against the
// ETag of the current representation, or nil without the header.
func ifMatch(c echo.Context) func(current any) error {
	h := c.Request().Header.Get("If-Match")
	if h == "" {
		return nil
	}
	return func(current any) error {
		if !etagMatches(h, etagOf(current)) {
			return newProblem(http.StatusPreconditionFailed, "If-Match does not match the current ETag: read the resource again")
		}
		return nil
	}
}

// etagMatches compares strongly (RFC 9110 13.1.1): a weak tag never matches.
func etagMatches(header, etag string) bool {
	if strings.TrimSpace(header) == "*" {
		return true
	}
	for _, t := range strings.Split(header, ",") {
		if strings.TrimSpace(t) == etag {
			return true
		}
	}
	return false
}
