package benchkit

import "testing"

func TestSizesAndMedians(t *testing.T) {
	for in, want := range map[string]int64{"512MiB": 512 << 20, "10KiB": 10 << 10, "1GB": 1e9, "1048576": 1 << 20, " 4 K": 4 << 10} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1MiB", "ten"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
	if got := FormatSize(512 << 20); got != "512 MiB" {
		t.Errorf("FormatSize = %q", got)
	}
	if Median([]float64{3, 1, 2}) != 2 || Median([]float64{4, 1, 2, 3}) != 2.5 || Median(nil) != 0 {
		t.Error("Median")
	}
	if JoinValues(nil) != "n/a" || JoinValues([]float64{123.4, 12.34, 1.234}) != "123 12.3 1.23" {
		t.Errorf("JoinValues: %q", JoinValues([]float64{123.4, 12.34, 1.234}))
	}
}

func TestParseOnly(t *testing.T) {
	got, err := ParseOnly(" big, list ,,", []string{"big", "small", "list"})
	if err != nil || len(got) != 2 || !got["big"] || !got["list"] {
		t.Fatalf("ParseOnly: %v %v", got, err)
	}
	if _, err := ParseOnly("big,huge", []string{"big"}); err == nil || err.Error() != `-only: unknown workload "huge" (valid: big)` {
		t.Fatalf("an unknown workload: %v", err)
	}
}
