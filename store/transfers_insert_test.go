package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// BeginUpload writes its row with a hand-written INSERT: every stored field
// of Transfer, set to a value of its own, must come back as it went in. A
// field added to Transfer and not to the INSERT fails here.
func TestBeginUploadKeepsEveryField(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true}
		if err := s.CreatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		var in store.Transfer
		v := reflect.ValueOf(&in).Elem()
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			if !sf.IsExported() || sf.Tag.Get("gorm") == "-" {
				continue
			}
			switch f.Kind() {
			case reflect.String:
				f.SetString(fmt.Sprintf("%s-%d", sf.Name, i))
			case reflect.Int64:
				f.SetInt(int64(100 + i))
			}
		}
		in.ID, in.PartnerID, in.AccountID = store.NewID(), &p.ID, nil
		in.StartedAt = time.Date(2026, 12, 6, 10, 0, 0, 123456000, time.UTC)
		finished := in.StartedAt.Add(time.Second)
		in.FinishedAt = &finished
		if err := s.BeginUpload(ctx, &in); err != nil {
			t.Fatal(err)
		}
		out, err := s.TransferByID(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		ov := reflect.ValueOf(out).Elem()
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			if !sf.IsExported() || sf.Tag.Get("gorm") == "-" {
				continue
			}
			want, got := v.Field(i).Interface(), ov.Field(i).Interface()
			switch w := want.(type) {
			case time.Time:
				if !w.Equal(got.(time.Time)) {
					t.Errorf("%s: stored %v, want %v", sf.Name, got, w)
				}
				continue
			case *time.Time:
				if g := got.(*time.Time); g == nil || !w.Equal(*g) {
					t.Errorf("%s: stored %v, want %v", sf.Name, g, *w)
				}
				continue
			}
			if !reflect.DeepEqual(want, got) {
				t.Errorf("%s: stored %v, want %v", sf.Name, got, want)
			}
		}
	})
}
