package web

// The partner file pages: browse, download, upload, new folder, rename,
// delete. They are an adapter over the file core (package files), as the
// FTP driver is: the same audit rows, quota changes, staging and publish.

import (
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/afero"

	"github.com/ferryhq/ferry/files"
	"github.com/ferryhq/ferry/partners"
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

// maxUpload bounds one file uploaded through the web admin (larger files
// go over FTP).
const maxUpload = 1 << 30

// cleanPath makes a user-given path absolute and clean; everything is read
// through the file core's tree, which cannot leave the partner's folder
// whatever the name and hides the staging folder.
func cleanPath(p string) string { return path.Clean("/" + p) }

// fileCore is the file core the pages work through.
func (s *Server) fileCore() *files.Service {
	if s.Files != nil {
		return s.Files
	}
	fc := &files.Service{Store: s.Store, FilesDir: s.Partners.FilesDir, Logger: s.logger()}
	if s.Outbox != nil {
		fc.OnUpload, fc.OnFile = s.Outbox.OnUpload, s.Outbox.OnFiles
	}
	return fc
}

// partnerTree opens the partner's whole tree for the signed-in
// administrator, with every file permission.
func (s *Server) partnerTree(r *http.Request, p *principal) (*store.Partner, *files.Tree, error) {
	pt, err := s.Partners.Partner(r.Context(), r.PathValue("slug"))
	if err != nil {
		return nil, nil, err
	}
	tree, err := s.fileCore().Open(r.Context(), files.Principal{PartnerID: pt.ID, PartnerSlug: pt.Slug,
		Username: "web:" + p.Name, Protocol: "web", RemoteAddr: s.remoteIP(r), Perms: partners.PermAll})
	if err != nil {
		return nil, nil, err
	}
	return pt, tree, nil
}

// treeHandler is a file page: the partner and its tree are open for it.
type treeHandler func(w http.ResponseWriter, r *http.Request, p *principal, pt *store.Partner, tree *files.Tree) error

// withTree opens the partner's tree for h and closes it after.
func (s *Server) withTree(h treeHandler) handler {
	return func(w http.ResponseWriter, r *http.Request, p *principal) error {
		pt, tree, err := s.partnerTree(r, p)
		if err != nil {
			return err
		}
		defer tree.Close()
		return h(w, r, p, pt, tree)
	}
}

// fileError turns an error of the file core into the page's answer.
func fileError(err error, name string) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, vfs.ErrStaging):
		return &httpError{status: http.StatusNotFound, msg: "There is no such file or folder."}
	case errors.Is(err, files.ErrIsFolder):
		return badRequest("%s is a folder; only files are deleted here.", name)
	case errors.Is(err, vfs.ErrBadName):
		return badRequest("That name is not allowed.")
	case errors.Is(err, vfs.ErrQuotaExceeded):
		return &httpError{status: http.StatusInsufficientStorage, msg: "The partner's quota is exceeded; nothing was stored."}
	case errors.Is(err, syscall.ENOTEMPTY):
		return &httpError{status: http.StatusConflict, msg: "The folder is not empty."}
	case errors.Is(err, fs.ErrExist):
		return &httpError{status: http.StatusConflict, msg: "A file or folder of that name already exists."}
	}
	return err
}

func (s *Server) files(w http.ResponseWriter, r *http.Request, p *principal, pt *store.Partner, tree *files.Tree) error {
	dir := cleanPath(r.URL.Query().Get("path"))
	infos, err := afero.ReadDir(tree.Fs(), dir)
	if err != nil {
		return fileError(err, dir)
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
		if !fi.IsDir() && !fi.Mode().IsRegular() {
			continue
		}
		d.Entries = append(d.Entries, fileEntry{Name: fi.Name(), Path: path.Join(dir, fi.Name()), Dir: fi.IsDir(),
			Size: fi.Size(), ModTime: fi.ModTime()})
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

func (s *Server) download(w http.ResponseWriter, r *http.Request, p *principal, pt *store.Partner, tree *files.Tree) error {
	name := cleanPath(r.URL.Query().Get("path"))
	row := tree.Record(store.OpDownload, name)
	f, err := tree.Fs().Open(name)
	if err != nil {
		return fileError(err, name)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return badRequest("%s is a folder; open it instead.", name)
	}
	h := w.Header()
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(name)}))
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", fi.ModTime(), f)
	tree.Finished(row, fi.Size(), nil)
	return nil
}

// done redirects to the folder dir with a message.
func done(w http.ResponseWriter, r *http.Request, pt *store.Partner, dir, msg string) {
	http.Redirect(w, r, "/partners/"+urlPath(pt.Slug)+"/files?path="+urlQueryEscape(dir)+"&done="+msg, http.StatusSeeOther)
}

func (s *Server) fileDelete(w http.ResponseWriter, r *http.Request, p *principal, pt *store.Partner, tree *files.Tree) error {
	name := cleanPath(r.PostForm.Get("path"))
	if name == "/" {
		return badRequest("That cannot be deleted.")
	}
	if err := tree.Remove(name); err != nil {
		if errors.Is(err, vfs.ErrStaging) {
			return badRequest("That cannot be deleted.")
		}
		return fileError(err, name)
	}
	done(w, r, pt, path.Dir(name), "file-deleted")
	return nil
}

func (s *Server) fileMkdir(w http.ResponseWriter, r *http.Request, p *principal, pt *store.Partner, tree *files.Tree) error {
	dir := cleanPath(r.PostForm.Get("path"))
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if name == "" || strings.Contains(name, "/") || name == "." || name == ".." {
		return badRequest("Give the new folder a name without slashes.")
	}
	if err := tree.Mkdir(path.Join(dir, name), 0o750); err != nil {
		return fileError(err, name)
	}
	done(w, r, pt, dir, "folder-created")
	return nil
}

// fileRename renames or moves path to "to": a name in the same folder, or
// an absolute path in the partner's tree.
func (s *Server) fileRename(w http.ResponseWriter, r *http.Request, p *principal, pt *store.Partner, tree *files.Tree) error {
	from := cleanPath(r.PostForm.Get("path"))
	to := strings.TrimSpace(r.PostForm.Get("to"))
	if from == "/" || to == "" {
		return badRequest("Name the file or folder and its new name.")
	}
	if !strings.HasPrefix(to, "/") {
		to = path.Join(path.Dir(from), to)
	}
	to = cleanPath(to)
	if err := tree.Rename(from, to); err != nil {
		return fileError(err, from)
	}
	done(w, r, pt, path.Dir(to), "file-renamed")
	return nil
}

// fileUpload stores the form's file in the folder path, published when
// complete, as an FTP upload is.
func (s *Server) fileUpload(w http.ResponseWriter, r *http.Request, p *principal, pt *store.Partner, tree *files.Tree) error {
	dir := cleanPath(r.PostForm.Get("path"))
	f, fh, err := r.FormFile("file")
	if err != nil {
		return badRequest("Choose a file to upload.")
	}
	defer f.Close()
	name := path.Base(cleanPath(strings.ReplaceAll(fh.Filename, "\\", "/")))
	if name == "/" {
		return badRequest("The file has no name.")
	}
	if _, err := tree.Upload(path.Join(dir, name), f); err != nil {
		return fileError(err, name)
	}
	done(w, r, pt, dir, "file-uploaded")
	return nil
}
