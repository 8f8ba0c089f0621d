package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// The sync rows turn each round's rates into times: what Ferry took beyond
// the no-sync Ferry, judged against the disk's time to publish the same.
func TestDeriveSyncCosts(t *testing.T) {
	o := &options{big: 512 << 20, files: 2000, fileSize: 4096, rounds: 2}
	r := newResults([]*target{{name: nameFerry}, {name: nameNoSync}, {name: nameEngine}})
	for _, v := range []struct {
		metric, server string
		vals           []float64
	}{
		{mSmallUp, nameFerry, []float64{400, 500}},        // 2500, 2000 µs a file
		{mSmallUp, nameNoSync, []float64{1000, 1000}},     // 1000 µs
		{mSmallUp, nameDisk, []float64{1000, 2000}},       // 1000, 500 µs
		{mSmallUp, nameDiskPublish, []float64{500, 1000}}, // 2000, 1000 µs
		{mBigUp, nameFerry, []float64{268.435456}},        // 2000 ms for 512 MiB
		{mBigUp, nameNoSync, []float64{536.870912}},       // 1000 ms
		{mBigUp, nameDiskPublish, []float64{268.435456}},  // 2000 ms
	} {
		for _, x := range v.vals {
			r.add(v.metric, v.server, x)
		}
	}
	r.deriveSyncCosts(o)
	near := func(metric, server string, want float64) {
		t.Helper()
		got, ok := r.median(metric, server)
		if !ok || math.Abs(got-want) > 1e-6 {
			t.Errorf("%s %s = %v (%v), want %v", metric, server, got, ok, want)
		}
	}
	near(mSmallSync, nameFerry, 1250) // rounds 1500 and 1000
	near(mSmallSync, nameDisk, 750)
	near(mSmallSync, nameDiskPublish, 1500)
	near(mBigSync, nameFerry, 1000)
	near(mBigSync, nameDiskPublish, 2000)
	if _, ok := r.median(mBigSync, nameNoSync); ok {
		t.Error("the no-sync Ferry got a sync cost")
	}

	var out bytes.Buffer
	r.print(&out, o)
	var small, big string
	for _, l := range strings.Split(out.String(), "\n") {
		switch {
		case strings.Contains(l, "syncing adds to Ferry's small upload"):
			small = l
		case strings.Contains(l, "syncing it adds to Ferry's upload"):
			big = l
		}
	}
	// 1250 µs within the disk's 1500; 1000 ms within its 2000.
	if !strings.Contains(small, " met") || strings.Contains(small, "NOT MET") {
		t.Errorf("small sync row: %q", small)
	}
	if !strings.Contains(big, " met") || strings.Contains(big, "NOT MET") {
		t.Errorf("big sync row: %q", big)
	}

	r.vals[mSmallSync][nameDiskPublish] = []float64{900}
	out.Reset()
	r.print(&out, o)
	if !strings.Contains(out.String(), "NOT MET") {
		t.Errorf("a sync cost above the disk's was not flagged:\n%s", out.String())
	}
}
