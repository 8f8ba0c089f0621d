package files_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/files"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// The publish and delete paths of the file core, each beside a reference
// in the same run: the same file operations straight on the OS file
// system, with nothing of Ferry's (no staging, hash, quota, audit row or
// sync). The difference is what the core costs per file:
//
//	go test -run '^$' -bench 'Delete|Publish' -benchtime 2000x ./files/

func benchEnv(b *testing.B, backend storetest.Backend, noSync bool) (*env, *files.Tree) {
	b.Helper()
	e := newEnv(b, backend, 0)
	e.svc.NoSync = noSync
	rows := &store.AuditWriter{Store: e.st}
	rows.Start()
	b.Cleanup(func() { _ = rows.Close(context.Background()) })
	e.svc.Rows = rows
	tree, err := e.svc.Open(context.Background(), files.Principal{PartnerID: e.partner.ID, PartnerSlug: "acme",
		Username: "bench", Protocol: "bench", HomeDir: "/", Perms: partners.PermAll})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tree.Close() })
	return e, tree
}

func BenchmarkDelete(b *testing.B) {
	data := bytes.Repeat([]byte("x"), 4096)
	b.Run("reference-os", func(b *testing.B) {
		dir := b.TempDir()
		names := make([]string, b.N)
		for i := range names {
			names[i] = filepath.Join(dir, fmt.Sprintf("f-%06d", i))
			if err := os.WriteFile(names[i], data, 0o640); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for _, n := range names {
			if _, err := os.Stat(n); err != nil {
				b.Fatal(err)
			}
			if err := os.Remove(n); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, backend := range storetest.Backends() {
		b.Run("ferry-"+backend.Name, func(b *testing.B) {
			_, tree := benchEnv(b, backend, true)
			names := make([]string, b.N)
			for i := range names {
				names[i] = fmt.Sprintf("/f-%06d", i)
				if _, err := tree.Upload(names[i], bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for _, n := range names {
				if err := tree.Remove(n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPublish(b *testing.B) {
	data := bytes.Repeat([]byte("x"), 4096)
	b.Run("reference-os", func(b *testing.B) {
		dir := b.TempDir()
		for i := range b.N {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f-%06d", i)), data, 0o640); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, backend := range storetest.Backends() {
		for _, noSync := range []bool{true, false} {
			name := "ferry-" + backend.Name
			if !noSync {
				name += "-sync"
			}
			b.Run(name, func(b *testing.B) {
				_, tree := benchEnv(b, backend, noSync)
				for i := range b.N {
					if _, err := tree.Upload(fmt.Sprintf("/f-%06d", i), bytes.NewReader(data)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
