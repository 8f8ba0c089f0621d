package partners

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/vfs"
)

// RecalcUsage counts a partner's finished files on disk (interrupted
// uploads do not count) and stores the result, repairing the usage counters
// after a crash or a change made outside Ferry.
func (s *Service) RecalcUsage(ctx context.Context, idOrSlug string) (*store.Partner, error) {
	p, err := s.Partner(ctx, idOrSlug)
	if err != nil {
		return nil, err
	}
	root := s.PartnerDir(p.Slug)
	var bytes, files int64
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() && path == filepath.Join(root, vfs.StagingDir) {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		bytes += fi.Size()
		files++
		return ctx.Err()
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("count files of %s: %w", p.Slug, err)
	}
	if err := s.Store.SetUsage(ctx, p.ID, bytes, files); err != nil {
		return nil, err
	}
	p.UsedBytes, p.UsedFiles = bytes, files
	return p, nil
}
