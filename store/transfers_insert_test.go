package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// BeginUpload and RecordTransfers write their rows with hand-written
// INSERTs: every stored field of Transfer, set to a value of its own, must
// come back as it went in. A field added to Transfer and not to the INSERT
// fails here.
func TestInsertsKeepEveryField(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true}
		if err := s.CreatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		in := filledTransfer(p.ID, 0)
		if err := s.BeginUpload(ctx, in); err != nil {
			t.Fatal(err)
		}
		checkStored(t, s, in)
		// More rows than one statement takes, and a remainder.
		var rows []*store.Transfer
		for n := 1; n <= 19; n++ {
			rows = append(rows, filledTransfer(p.ID, n))
		}
		if err := s.RecordTransfers(ctx, rows, nil); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			checkStored(t, s, r)
		}
	})
}

// filledTransfer is a row whose every stored field has a value of its own.
func filledTransfer(partnerID string, n int) *store.Transfer {
	var in store.Transfer
	v := reflect.ValueOf(&in).Elem()
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if !sf.IsExported() || sf.Tag.Get("gorm") == "-" {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(fmt.Sprintf("%s-%d-%d", sf.Name, n, i))
		case reflect.Int64:
			f.SetInt(int64(100*n + i))
		}
	}
	in.ID, in.PartnerID, in.AccountID = store.NewID(), &partnerID, nil
	in.StartedAt = time.Date(2026, 12, 6, 10, 0, n, 123456000, time.UTC)
	finished := in.StartedAt.Add(time.Second)
	in.FinishedAt = &finished
	return &in
}

func checkStored(t *testing.T, s *store.Store, in *store.Transfer) {
	t.Helper()
	out, err := s.TransferByID(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	v, ov := reflect.ValueOf(in).Elem(), reflect.ValueOf(out).Elem()
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		if !sf.IsExported() || sf.Tag.Get("gorm") == "-" {
			continue
		}
		want, got := v.Field(i).Interface(), ov.Field(i).Interface()
		switch w := want.(type) {
		case time.Time:
			if !w.Equal(got.(time.Time)) {
				t.Errorf("%s %s: stored %v, want %v", in.ID, sf.Name, got, w)
			}
			continue
		case *time.Time:
			if g := got.(*time.Time); g == nil || !w.Equal(*g) {
				t.Errorf("%s %s: stored %v, want %v", in.ID, sf.Name, g, *w)
			}
			continue
		}
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s %s: stored %v, want %v", in.ID, sf.Name, got, want)
		}
	}
}

// BeginUpload reports the quota and usage its reservation left (what the
// quota alerts compare when the upload is finished), from the reserving
// statement itself; a refused reservation reports none.
func TestBeginUploadReportsUsage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true, QuotaBytes: 1000, QuotaFiles: 10}
		if err := s.CreatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		up := func(bytes int64) *store.Transfer {
			return &store.Transfer{PartnerID: &p.ID, Protocol: "ftp", Operation: store.OpUpload, Path: "/f",
				Bytes: bytes, FileSize: bytes, UsageBytes: bytes, UsageFiles: 1, StartedAt: time.Now()}
		}
		for _, c := range []struct{ bytes, used, files int64 }{{300, 300, 1}, {500, 800, 2}} {
			row := up(c.bytes)
			if err := s.BeginUpload(ctx, row); err != nil {
				t.Fatal(err)
			}
			want := store.Usage{QuotaBytes: 1000, QuotaFiles: 10, UsedBytes: c.used, UsedFiles: c.files}
			if row.Reserved == nil || *row.Reserved != want {
				t.Fatalf("after reserving %d bytes: %+v, want %+v", c.bytes, row.Reserved, want)
			}
		}
		row := up(300)
		if err := s.BeginUpload(ctx, row); !errors.Is(err, store.ErrQuotaExceeded) || row.Reserved != nil {
			t.Fatalf("over the quota: %v, reserved %+v; want ErrQuotaExceeded and none", err, row.Reserved)
		}
	})
}
