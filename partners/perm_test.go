package partners

import "testing"

func TestParsePerm(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Perm
		ok   bool
	}{
		{"", 0, true},
		{"all", PermAll, true},
		{"list, Download", PermList | PermDownload, true},
		{"list,upload,upload", PermList | PermUpload, true},
		{"list,fly", 0, false},
	} {
		got, err := ParsePerm(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParsePerm(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok {
			back, _ := ParsePerm(got.String())
			if back != got {
				t.Errorf("round trip of %q: %v", tc.in, back)
			}
		}
	}
}
