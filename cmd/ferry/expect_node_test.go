package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// Three deadlines of an expectation passed while no node ran (it was made
// three days "ago"); two nodes then start at the same moment on one
// PostgreSQL database: the three are judged, missed, once each between
// them, with one alert each, and a node started later judges nothing again.
func TestFerryBinaryExpectationsTwoNodes(t *testing.T) {
	bin := buildFerry(t)
	url := storetest.NewPostgresDB(t)
	shared := filepath.Join(t.TempDir(), "shared")
	const token = "two-node-admin-token-0123456789ab"
	common := []string{"FERRY_DATABASE_URL=" + url, "FERRY_DATA_DIR=" + shared, "FERRY_ADMIN_TOKEN=" + token}
	f := &ferryCmd{t: t, bin: bin, dir: t.TempDir(), env: common}
	f.ok("", "partner", "create", "acme", "--contact", "ops@acme.example")
	out := f.ok("", "expectation", "create", "--partner", "acme", "--folder", "/in", "--pattern", "*.csv",
		"--schedule", "0 6 * * *", "--time-zone", "UTC")
	id := regexp.MustCompile(`created expectation (\S+) `).FindStringSubmatch(out)[1]

	// Made three days ago: daily 06:00 UTC has exactly three deadlines
	// in any 72 hours.
	st, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	x, err := st.ExpectationByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	x.StartsAt = time.Now().Add(-72 * time.Hour)
	if err := st.UpdateExpectation(context.Background(), x); err != nil {
		t.Fatal(err)
	}

	a := newNode(t, "A", bin, t.TempDir(), common...)
	b := newNode(t, "B", bin, t.TempDir(), common...)
	for _, n := range []*node{a, b} {
		n.start()
	}
	var wg sync.WaitGroup
	for _, n := range []*node{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); n.waitHealthy() }()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	evaluations := func(n *node) []map[string]any {
		code, raw := n.api("GET", "/api/v1/partners/acme/expectations/"+id+"/evaluations", token, nil)
		if code != http.StatusOK {
			t.Fatalf("evaluations: %d %s", code, raw)
		}
		var v struct{ Items []map[string]any }
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		return v.Items
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(evaluations(a)) < 3 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // a double evaluation would show by now
	items := evaluations(b)
	if len(items) != 3 {
		t.Fatalf("%d evaluations, want 3: %v\nA:\n%s\nB:\n%s", len(items), items, a.logs(), b.logs())
	}
	for _, it := range items {
		if it["outcome"] != "missed" {
			t.Errorf("outcome %v", it)
		}
	}
	logged := strings.Count(a.logs(), "deadline evaluated") + strings.Count(b.logs(), "deadline evaluated")
	if logged != 3 {
		t.Errorf("the nodes logged %d evaluations, want 3", logged)
	}
	code, raw := a.api("GET", "/api/v1/notifications?kind=expectation", token, nil)
	var ns struct{ Items []map[string]any }
	if err := json.Unmarshal(raw, &ns); err != nil || code != http.StatusOK || len(ns.Items) != 3 {
		t.Fatalf("expectation alerts: %d %s", code, raw)
	}

	// A third node, later: nothing left to judge.
	c := newNode(t, "C", bin, t.TempDir(), common...)
	c.start()
	c.waitHealthy()
	time.Sleep(time.Second)
	if n := len(evaluations(c)); n != 3 || strings.Contains(c.logs(), "deadline evaluated") {
		t.Fatalf("after node C: %d evaluations; C logged: %v", n, strings.Contains(c.logs(), "deadline evaluated"))
	}
}
