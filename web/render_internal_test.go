package web

import "testing"

func TestPlural(t *testing.T) {
	for _, c := range []struct {
		n    any
		want string
	}{
		{0, "files"}, {1, "file"}, {2, "files"}, {int64(1), "file"}, {int64(-1), "files"},
		{int32(1), "file"}, {uint32(1), "file"}, {uint64(1), "file"}, {uint64(7), "files"},
	} {
		if got := plural(c.n, "file", "files"); got != c.want {
			t.Errorf("plural(%v (%T)) = %q, want %q", c.n, c.n, got, c.want)
		}
	}
}
