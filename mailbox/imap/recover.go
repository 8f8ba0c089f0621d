package imap

import (
	"runtime/debug"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// errInternal answers a command whose handler panicked.
var errInternal = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Internal server error"}

// guarded is the imapserver.Session the library gets: every command
// handler of session, with a panic turned into a tagged NO [SERVERBUG].
// go-imap (v2.0.0-beta.9) recovers a handler's panic itself but then
// closes the connection without a reply, so a client cannot tell a bug
// from a broken network and retries the same command for ever.
type guarded struct{ *session }

var (
	_ imapserver.SessionIMAP4rev2   = guarded{}
	_ imapserver.SessionAppendLimit = guarded{}
)

// recover, deferred by each handler, logs a panic and answers it. A panic
// while a FETCH response is half on the wire cannot be answered with a
// tagged reply (the library holds the response encoder until the response
// is closed, and the client is inside the response): the response is closed
// and the connection ended with "* BYE".
func (g guarded) recover(cmd string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	g.srv.log().Error("imap: panic handling command", "command", cmd, "panic", r, "stack", string(debug.Stack()))
	*err = errInternal
	if w := g.fetching; w != nil {
		g.fetching = nil
		_ = w.Close()
		_ = g.conn.Bye("Internal server error")
	}
}

func (g guarded) Login(username, password string) (err error) {
	defer g.recover("LOGIN", &err)
	return g.session.Login(username, password)
}

func (g guarded) Select(name string, options *imap.SelectOptions) (_ *imap.SelectData, err error) {
	defer g.recover("SELECT", &err)
	return g.session.Select(name, options)
}

func (g guarded) Create(name string, options *imap.CreateOptions) (err error) {
	defer g.recover("CREATE", &err)
	return g.session.Create(name, options)
}

func (g guarded) Delete(name string) (err error) {
	defer g.recover("DELETE", &err)
	return g.session.Delete(name)
}

func (g guarded) Rename(from, to string, options *imap.RenameOptions) (err error) {
	defer g.recover("RENAME", &err)
	return g.session.Rename(from, to, options)
}

func (g guarded) Subscribe(name string) (err error) {
	defer g.recover("SUBSCRIBE", &err)
	return g.session.Subscribe(name)
}

func (g guarded) Unsubscribe(name string) (err error) {
	defer g.recover("UNSUBSCRIBE", &err)
	return g.session.Unsubscribe(name)
}

func (g guarded) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) (err error) {
	defer g.recover("LIST", &err)
	return g.session.List(w, ref, patterns, options)
}

func (g guarded) Status(name string, options *imap.StatusOptions) (_ *imap.StatusData, err error) {
	defer g.recover("STATUS", &err)
	return g.session.Status(name, options)
}

func (g guarded) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (_ *imap.AppendData, err error) {
	defer g.recover("APPEND", &err)
	return g.session.Append(name, r, options)
}

func (g guarded) Poll(w *imapserver.UpdateWriter, allowExpunge bool) (err error) {
	defer g.recover("poll", &err)
	return g.session.Poll(w, allowExpunge)
}

func (g guarded) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) (err error) {
	defer g.recover("IDLE", &err)
	return g.session.Idle(w, stop)
}

func (g guarded) Unselect() (err error) {
	defer g.recover("UNSELECT", &err)
	return g.session.Unselect()
}

func (g guarded) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) (err error) {
	defer g.recover("EXPUNGE", &err)
	return g.session.Expunge(w, uids)
}

func (g guarded) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (_ *imap.SearchData, err error) {
	defer g.recover("SEARCH", &err)
	return g.session.Search(kind, criteria, options)
}

func (g guarded) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) (err error) {
	defer g.recover("FETCH", &err)
	return g.session.Fetch(w, numSet, options)
}

func (g guarded) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) (err error) {
	defer g.recover("STORE", &err)
	return g.session.Store(w, numSet, flags, options)
}

func (g guarded) Copy(numSet imap.NumSet, dest string) (_ *imap.CopyData, err error) {
	defer g.recover("COPY", &err)
	return g.session.Copy(numSet, dest)
}

func (g guarded) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) (err error) {
	defer g.recover("MOVE", &err)
	return g.session.Move(w, numSet, dest)
}

func (g guarded) Namespace() (_ *imap.NamespaceData, err error) {
	defer g.recover("NAMESPACE", &err)
	return g.session.Namespace()
}
