package portal

// The partner's files: an adapter over the file core, as the FTP driver
// is. Everything goes through the account's tree (files.Service.Open):
// permissions, the home folder as jail, the quota, staged uploads
// published whole, audit rows and upload alerts.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/afero"

	"github.com/ferryhq/ferry/files"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/vfs"
)

// MaxPart bounds one part of a chunked upload; the page sends 8 MiB.
const MaxPart = 64 << 20

// maxFormUpload bounds a file sent with the plain form (no script).
const maxFormUpload = 1 << 30

// treeHandler is a page that works on the signed-in account's tree.
type treeHandler func(w http.ResponseWriter, r *http.Request, u *user, tree *files.Tree) error

// withTree opens the account's tree for h and closes it after.
func (s *Server) withTree(h treeHandler) handler {
	return func(w http.ResponseWriter, r *http.Request, u *user) error {
		l := u.Login
		tree, err := s.Files.Open(r.Context(), files.Principal{PartnerID: l.PartnerID, PartnerSlug: l.PartnerSlug,
			AccountID: l.AccountID, Username: l.Username, Protocol: protocol, RemoteAddr: s.clientIP(r),
			HomeDir: l.HomeDir, Perms: l.Perms})
		if err != nil {
			return err
		}
		defer tree.Close()
		return h(w, r, u, tree)
	}
}

// cleanPath makes a name from the browser absolute and clean; the tree
// keeps it inside the account's home whatever it says.
func cleanPath(p string) string { return path.Clean("/" + p) }

// filesURL is the page of a folder or the download of a file.
func filesURL(p string) string { return filesURLAt("/portal", p) }

// filesURLAt is filesURL under base (the view-as pages' own prefix).
func filesURLAt(base, p string) string {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	u := base + "/files/" + strings.Join(segs, "/")
	if p == "/" {
		u = base + "/files/"
	}
	return u
}

// fileError turns an error of the file core into what the partner reads;
// no internal path or error chain leaves.
func fileError(err error) error {
	var denied *vfs.DeniedError
	switch {
	case errors.As(err, &denied):
		return &httpError{status: http.StatusForbidden, msg: "Your access does not allow that: " + denied.Reason() + "."}
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, vfs.ErrStaging):
		return errNotFound
	case errors.Is(err, files.ErrIsFolder):
		return badRequest("That is a folder.")
	case errors.Is(err, vfs.ErrBadName):
		return badRequest("That name is not allowed.")
	case errors.Is(err, vfs.ErrQuotaExceeded):
		return &httpError{status: http.StatusInsufficientStorage, msg: "Your storage space is full; nothing was stored. Delete files you no longer need, or ask your contact for more space."}
	case errors.Is(err, syscall.ENOTEMPTY):
		return &httpError{status: http.StatusConflict, msg: "The folder is not empty; delete what is in it first."}
	case errors.Is(err, fs.ErrExist):
		return &httpError{status: http.StatusConflict, msg: "Something of that name is already there."}
	case errors.Is(err, fs.ErrPermission):
		return &httpError{status: http.StatusForbidden, msg: "Your access does not allow that."}
	}
	return err
}

type entry struct {
	Name, URL, Path string
	Dir             bool
	Size            int64
	ModTime         time.Time
}

type sortLink struct {
	Label, Key, URL, Aria string
	Current, Desc         bool
}

type filesData struct {
	Path    string
	Crumbs  []entry
	Entries []entry
	Sort    []sortLink
	Perms   permsView
	Free    string // what the quota leaves, "" without a quota
	Part    int64  // bytes per upload request
	Done    string
}

// permsView says what the account may do, for greying out controls.
type permsView struct{ Upload, Overwrite, Delete, Rename, Mkdir, Download bool }

func viewPerms(p partners.Perm) permsView {
	return permsView{Upload: p.Has(partners.PermUpload), Overwrite: p.Has(partners.PermOverwrite),
		Delete: p.Has(partners.PermDelete), Rename: p.Has(partners.PermRename), Mkdir: p.Has(partners.PermMkdir),
		Download: p.Has(partners.PermDownload)}
}

var doneMessages = map[string]string{
	"deleted": "Deleted.", "folder": "Folder created.", "renamed": "Renamed.", "uploaded": "Uploaded.",
}

// files shows a folder, or downloads a file.
func (s *Server) files(w http.ResponseWriter, r *http.Request, u *user, tree *files.Tree) error {
	name := cleanPath(r.PathValue("path"))
	fi, err := tree.Fs().Stat(name)
	if err != nil || vfs.IsPartial(fi) {
		if err == nil {
			err = fs.ErrNotExist
		}
		return fileError(err)
	}
	if !fi.IsDir() {
		if u.viewAs != "" {
			return &httpError{status: http.StatusForbidden, msg: "This is a read-only view: files are not downloaded here."}
		}
		return s.download(w, r, tree, name)
	}
	infos, err := afero.ReadDir(tree.Fs(), name)
	if err != nil {
		return fileError(err)
	}
	d := filesData{Path: name, Perms: viewPerms(u.Login.Perms), Done: doneMessages[r.URL.Query().Get("done")],
		Part: s.partSize()}
	d.Crumbs = append(d.Crumbs, entry{Name: "Your files", URL: filesURLAt(u.base(), "/")})
	acc := ""
	for _, part := range strings.Split(strings.Trim(name, "/"), "/") {
		if part == "" {
			continue
		}
		acc += "/" + part
		d.Crumbs = append(d.Crumbs, entry{Name: part, URL: filesURLAt(u.base(), acc), Path: acc})
	}
	for _, fi := range infos {
		if !fi.IsDir() && !fi.Mode().IsRegular() || vfs.IsPartial(fi) {
			continue
		}
		p := path.Join(name, fi.Name())
		d.Entries = append(d.Entries, entry{Name: fi.Name(), Path: p, URL: filesURLAt(u.base(), p), Dir: fi.IsDir(),
			Size: fi.Size(), ModTime: fi.ModTime()})
	}
	key, desc := r.URL.Query().Get("sort"), r.URL.Query().Get("order") == "desc"
	sortEntries(d.Entries, key, desc)
	for _, c := range []struct{ label, key string }{{"Name", "name"}, {"Size", "size"}, {"Changed", "date"}} {
		cur := c.key == key || key == "" && c.key == "name"
		l := sortLink{Label: c.label, Key: c.key, Current: cur, Desc: cur && desc}
		order := "asc"
		if cur && !desc {
			order = "desc"
		}
		l.URL = filesURLAt(u.base(), name) + "?sort=" + c.key + "&order=" + order
		l.Aria = "Sort by " + strings.ToLower(c.label)
		d.Sort = append(d.Sort, l)
	}
	if free, limited, err := tree.Free(); err == nil && limited {
		d.Free = humanSize(free)
	}
	s.render(w, r, u, http.StatusOK, "files", titleOf(name), d)
	return nil
}

func titleOf(name string) string {
	if name == "/" {
		return "Your files"
	}
	return path.Base(name)
}

func sortEntries(es []entry, key string, desc bool) {
	less := func(a, b entry) bool { return strings.ToLower(a.Name) < strings.ToLower(b.Name) }
	switch key {
	case "size":
		less = func(a, b entry) bool {
			if a.Size != b.Size {
				return a.Size < b.Size
			}
			return a.Name < b.Name
		}
	case "date":
		less = func(a, b entry) bool {
			if !a.ModTime.Equal(b.ModTime) {
				return a.ModTime.Before(b.ModTime)
			}
			return a.Name < b.Name
		}
	}
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Dir != es[j].Dir {
			return es[i].Dir // folders first, whichever order
		}
		if desc {
			return less(es[j], es[i])
		}
		return less(es[i], es[j])
	})
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, tree *files.Tree, name string) error {
	row := tree.Record(store.OpDownload, name)
	f, err := tree.Fs().Open(name)
	if err != nil {
		tree.Finished(row, 0, err)
		return fileError(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(name)}))
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "no-store")
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", fi.ModTime(), f)
	var derr error
	if cw.n < fi.Size() && r.Header.Get("Range") == "" && r.Method != http.MethodHead {
		derr = fmt.Errorf("download interrupted after %d of %d bytes", cw.n, fi.Size())
	}
	tree.Finished(row, cw.n, derr)
	return nil
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// back redirects to the folder dir with a message.
func back(w http.ResponseWriter, r *http.Request, dir, done string) {
	http.Redirect(w, r, filesURL(dir)+"?done="+done, http.StatusSeeOther)
}

func (s *Server) mkdir(w http.ResponseWriter, r *http.Request, u *user, tree *files.Tree) error {
	dir := cleanPath(r.PostForm.Get("dir"))
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
		return badRequest("Give the new folder a name without slashes.")
	}
	if err := tree.Mkdir(path.Join(dir, name), 0o750); err != nil {
		return fileError(err)
	}
	back(w, r, dir, "folder")
	return nil
}

// rename gives a file or folder a new name in the same folder.
func (s *Server) rename(w http.ResponseWriter, r *http.Request, u *user, tree *files.Tree) error {
	from := cleanPath(r.PostForm.Get("path"))
	to := strings.TrimSpace(r.PostForm.Get("to"))
	if from == "/" || to == "" || strings.ContainsAny(to, "/\\") || to == "." || to == ".." {
		return badRequest("Give the new name without slashes.")
	}
	if err := tree.Rename(from, path.Join(path.Dir(from), to)); err != nil {
		return fileError(err)
	}
	back(w, r, path.Dir(from), "renamed")
	return nil
}

// remove deletes a file, or a folder that is empty.
func (s *Server) remove(w http.ResponseWriter, r *http.Request, u *user, tree *files.Tree) error {
	name := cleanPath(r.PostForm.Get("path"))
	if name == "/" {
		return badRequest("Your top folder cannot be deleted.")
	}
	fi, err := tree.Fs().Stat(name)
	switch {
	case err == nil && fi.IsDir():
		err = tree.RemoveDir(name)
	default:
		err = tree.Remove(name)
	}
	if err != nil {
		return fileError(err)
	}
	back(w, r, path.Dir(name), "deleted")
	return nil
}

// uploadForm stores the file of the plain upload form (a browser without
// script), published when complete.
func (s *Server) uploadForm(w http.ResponseWriter, r *http.Request, u *user, tree *files.Tree) error {
	dir := cleanPath(r.PostForm.Get("dir"))
	if r.MultipartForm == nil || len(r.MultipartForm.File["file"]) == 0 {
		return badRequest("Choose a file to upload.")
	}
	for _, fh := range r.MultipartForm.File["file"] {
		name := path.Base(cleanPath(strings.ReplaceAll(fh.Filename, "\\", "/")))
		if name == "/" {
			return badRequest("A file has no name.")
		}
		f, err := fh.Open()
		if err != nil {
			return err
		}
		_, err = tree.Upload(path.Join(dir, name), f)
		f.Close()
		if err != nil {
			return fileError(err)
		}
	}
	back(w, r, dir, "uploaded")
	return nil
}

// The page's script uploads each file in parts:
//
//	GET  /portal/upload?path=/folder/name          → {"offset": n}
//	POST /portal/upload?path=/folder/name
//	     Content-Range: bytes first-last/total      → {"offset": n, "done": bool}
//
// with the session's CSRF token in X-CSRF-Token. offset is how much of the
// file Ferry holds staged; after a dropped connection the script asks for
// it and goes on from there. A part that starts past it is answered 409
// with the offset. The part that reaches total publishes the file.

type uploadReply struct {
	Offset int64  `json:"offset"`
	Done   bool   `json:"done,omitempty"`
	Error  string `json:"error,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) uploadStatus(w http.ResponseWriter, r *http.Request, u *user, tree *files.Tree) error {
	n, _ := tree.Staged(cleanPath(r.URL.Query().Get("path")))
	writeJSON(w, http.StatusOK, uploadReply{Offset: n})
	return nil
}

// parseContentRange reads "bytes first-last/total" (or "bytes */0" for an
// empty file).
func parseContentRange(h string) (first, last, total int64, err error) {
	spec, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, 0, 0, errors.New("no bytes unit")
	}
	rng, tot, ok := strings.Cut(spec, "/")
	if !ok {
		return 0, 0, 0, errors.New("no total")
	}
	if total, err = strconv.ParseInt(tot, 10, 64); err != nil || total < 0 {
		return 0, 0, 0, errors.New("bad total")
	}
	if rng == "*" && total == 0 {
		return 0, -1, 0, nil
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, errors.New("bad range")
	}
	if first, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, 0, errors.New("bad first byte")
	}
	if last, err = strconv.ParseInt(b, 10, 64); err != nil {
		return 0, 0, 0, errors.New("bad last byte")
	}
	if first < 0 || last < first || last >= total || last-first+1 > MaxPart {
		return 0, 0, 0, errors.New("range out of bounds")
	}
	return first, last, total, nil
}

func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, u *user, tree *files.Tree) error {
	fail := func(status int, msg string) error {
		writeJSON(w, status, uploadReply{Error: msg})
		return nil
	}
	if checkOrigin(r) != nil || !u.validCSRF(r.Header.Get("X-CSRF-Token")) {
		return fail(http.StatusForbidden, errCSRF.msg)
	}
	name := cleanPath(r.URL.Query().Get("path"))
	if name == "/" || strings.HasSuffix(r.URL.Query().Get("path"), "/") {
		return fail(http.StatusBadRequest, "The file has no name.")
	}
	first, last, total, err := parseContentRange(r.Header.Get("Content-Range"))
	if err != nil {
		return fail(http.StatusBadRequest, "Content-Range must be bytes first-last/total: "+err.Error()+".")
	}
	if r.ContentLength >= 0 && r.ContentLength != last-first+1 {
		return fail(http.StatusBadRequest, "The part's length does not match its Content-Range.")
	}
	body := http.MaxBytesReader(w, r.Body, last-first+1)
	n, err := tree.UploadPart(name, first, body, last+1 == total)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, uploadReply{Offset: n, Done: last+1 == total})
		return nil
	case errors.Is(err, vfs.ErrInvalidOffset):
		writeJSON(w, http.StatusConflict, uploadReply{Offset: n, Error: "Ferry holds a different part of this file; go on from offset."})
		return nil
	}
	var he *httpError
	if errors.As(fileError(err), &he) {
		return fail(he.status, he.msg)
	}
	s.logger().Error("portal upload", "user", u.Login.Username, "path", name, "err", err)
	return fail(http.StatusInternalServerError, "The upload did not work just now; it will go on where it stopped when you try again.")
}

func (s *Server) partSize() int64 {
	if s.PartSize <= 0 {
		return 8 << 20
	}
	return min(s.PartSize, MaxPart)
}
