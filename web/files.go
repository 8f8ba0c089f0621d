package web

// The partner file pages: browse, download, delete.

import (
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/spf13/afero"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/vfs"
)

type fileEntry struct {
	Name, Path string
	Dir        bool
	Size       int64
	ModTime    time.Time
}

type filesData struct {
	Partner *store.Partner
	Path    string
	Parent  string // "" at the top
	Crumbs  []fileEntry
	Entries []fileEntry
}

// cleanPath makes a user-given path absolute and clean; everything is read
// through vfs.Root, which cannot leave the partner's folder whatever the
// name.
func cleanPath(p string) string { return path.Clean("/" + p) }

func hidden(p string) bool {
	return p == "/"+vfs.StagingDir || strings.HasPrefix(p, "/"+vfs.StagingDir+"/")
}

func (s *Server) partnerRoot(r *http.Request) (*store.Partner, *vfs.Root, error) {
	pt, err := s.Partners.Partner(r.Context(), r.PathValue("slug"))
	if err != nil {
		return nil, nil, err
	}
	root, err := vfs.OpenRoot(s.Partners.PartnerDir(pt.Slug))
	if err != nil {
		return nil, nil, err
	}
	return pt, root, nil
}

func notFoundFile(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &httpError{status: http.StatusNotFound, msg: "There is no such file or folder."}
	}
	return err
}

func (s *Server) files(w http.ResponseWriter, r *http.Request, p *principal) error {
	pt, root, err := s.partnerRoot(r)
	if err != nil {
		return err
	}
	defer root.Close()
	dir := cleanPath(r.URL.Query().Get("path"))
	if hidden(dir) {
		return notFoundFile(fs.ErrNotExist)
	}
	infos, err := afero.ReadDir(root, dir)
	if err != nil {
		return notFoundFile(err)
	}
	d := filesData{Partner: pt, Path: dir}
	if dir != "/" {
		d.Parent = path.Dir(dir)
		acc := ""
		for _, part := range strings.Split(strings.Trim(dir, "/"), "/") {
			acc += "/" + part
			d.Crumbs = append(d.Crumbs, fileEntry{Name: part, Path: acc})
		}
	}
	for _, fi := range infos {
		full := path.Join(dir, fi.Name())
		if hidden(full) || !fi.IsDir() && !fi.Mode().IsRegular() {
			continue
		}
		d.Entries = append(d.Entries, fileEntry{Name: fi.Name(), Path: full, Dir: fi.IsDir(), Size: fi.Size(), ModTime: fi.ModTime()})
	}
	sort.Slice(d.Entries, func(i, j int) bool {
		if d.Entries[i].Dir != d.Entries[j].Dir {
			return d.Entries[i].Dir
		}
		return d.Entries[i].Name < d.Entries[j].Name
	})
	s.renderPage(w, r, http.StatusOK, "files", &page{Title: pt.Name + ": files", Nav: "partners", User: p, Data: d})
	return nil
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, p *principal) error {
	pt, root, err := s.partnerRoot(r)
	if err != nil {
		return err
	}
	defer root.Close()
	name := cleanPath(r.URL.Query().Get("path"))
	if hidden(name) {
		return notFoundFile(fs.ErrNotExist)
	}
	f, err := root.Open(name)
	if err != nil {
		return notFoundFile(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return badRequest("%s is a folder; open it instead.", name)
	}
	start := s.now()
	h := w.Header()
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(name)}))
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", fi.ModTime(), f)
	s.recordFileOp(r, p, pt, store.OpDownload, name, fi.Size(), 0, 0, start, nil)
	return nil
}

// recordFileOp writes a file operation of the web admin to the transfer
// audit log, next to the protocols' own.
func (s *Server) recordFileOp(r *http.Request, p *principal, pt *store.Partner, op, name string, bytes, usageBytes, usageFiles int64, start time.Time, opErr error) {
	now := s.now().UTC()
	t := &store.Transfer{PartnerID: store.StrPtr(pt.ID), Username: "web:" + p.Name, Protocol: "web", Operation: op,
		Path: name, RemoteAddr: s.remoteIP(r), Bytes: bytes, UsageBytes: usageBytes, UsageFiles: usageFiles,
		Status: store.StatusOK, StartedAt: start.UTC(), FinishedAt: &now, DurationMS: now.Sub(start).Milliseconds()}
	if opErr != nil {
		t.Status, t.Error = store.StatusFailed, opErr.Error()
	}
	if err := s.Store.RecordTransfer(r.Context(), t); err != nil {
		s.logger().Error("record web file operation", "op", op, "path", name, "err", err)
	}
}

func (s *Server) fileDelete(w http.ResponseWriter, r *http.Request, p *principal) error {
	pt, root, err := s.partnerRoot(r)
	if err != nil {
		return err
	}
	defer root.Close()
	name := cleanPath(r.PostForm.Get("path"))
	if name == "/" || hidden(name) {
		return badRequest("That cannot be deleted.")
	}
	start := s.now()
	fi, err := root.Stat(name)
	if err != nil {
		return notFoundFile(err)
	}
	if fi.IsDir() {
		return badRequest("%s is a folder; only files are deleted here.", name)
	}
	err = root.Remove(name)
	if err != nil {
		s.recordFileOp(r, p, pt, store.OpDelete, name, 0, 0, 0, start, err)
		return notFoundFile(err)
	}
	// Give the space back to the quota, as an FTP DELE does.
	if err := s.Store.AddUsage(r.Context(), pt.ID, -fi.Size(), -1); err != nil {
		s.logger().Error("give back quota of deleted file", "partner", pt.Slug, "err", err)
	}
	s.recordFileOp(r, p, pt, store.OpDelete, name, fi.Size(), -fi.Size(), -1, start, nil)
	http.Redirect(w, r, "/partners/"+urlPath(pt.Slug)+"/files?path="+urlQueryEscape(path.Dir(name))+"&done=file-deleted", http.StatusSeeOther)
	return nil
}
