package imap

import (
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/ferryhq/ferry/store"
)

// selection is the folder a session has selected.
type selection struct {
	st       *folderState
	tracker  *imapserver.SessionTracker
	readOnly bool
}

var permanentFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft, imap.FlagWildcard}

// Select is called by SELECT and EXAMINE.
func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	s.unselect()
	f, err := s.srv.Store.Folder(s.ctx, s.partner(), name)
	if err != nil {
		return nil, imapError(err)
	}
	st, err := s.srv.acquire(s.ctx, f.ID)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	sel := &selection{st: st, tracker: st.tracker.NewSession(), readOnly: options != nil && options.ReadOnly}
	data := &imap.SelectData{
		Flags:          permanentFlags[:5],
		PermanentFlags: permanentFlags,
		NumMessages:    uint32(len(st.uids)),
		UIDNext:        st.uidNext,
		UIDValidity:    st.uidValidity,
	}
	st.mu.Unlock()
	if sel.readOnly {
		data.PermanentFlags = nil
	}
	s.sel = sel
	return data, nil
}

// Unselect is called by CLOSE (after Expunge) and UNSELECT.
func (s *session) Unselect() error {
	s.unselect()
	return nil
}

func (s *session) unselect() {
	if s.sel == nil {
		return
	}
	s.sel.tracker.Close()
	s.srv.release(s.sel.st)
	s.sel = nil
}

// Poll is called after every command: it catches up with the database and
// writes the pending updates.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.sel == nil {
		return nil
	}
	if err := s.sel.st.sync(s.ctx); err != nil {
		s.srv.log().Warn("imap poll", "err", err)
	}
	return s.sel.tracker.Poll(w, allowExpunge)
}

// Idle is called by IDLE; it returns when stop is closed.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if s.sel == nil {
		<-stop
		return nil
	}
	st := s.sel.st
	changed, unwatch := s.srv.Store.Watch(st.id)
	defer unwatch()
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(s.srv.idlePoll())
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-stop:
				return
			case <-changed:
			case <-t.C:
			}
			if err := st.sync(s.ctx); err != nil {
				s.srv.log().Warn("imap idle", "err", err)
			}
		}
	}()
	return s.sel.tracker.Idle(w, stop)
}

// Expunge is called by EXPUNGE, UID EXPUNGE and CLOSE. The EXPUNGE
// responses are written by the Poll that follows.
func (s *session) Expunge(_ *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	if s.sel.readOnly {
		return errReadOnly
	}
	var list []int64
	if uids != nil {
		list = []int64{}
		for _, r := range s.sel.st.resolve(s.sel.tracker, *uids) {
			list = append(list, int64(r.uid))
		}
	}
	if _, err := s.srv.Store.Expunge(s.ctx, s.sel.st.id, list, true); err != nil {
		return err
	}
	return s.sel.st.sync(s.ctx)
}

// Store is called by STORE and UID STORE.
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	if s.sel.readOnly {
		return errReadOnly
	}
	refs := s.sel.st.resolve(s.sel.tracker, numSet)
	if len(refs) == 0 {
		return nil
	}
	uids := make([]int64, len(refs))
	for i, r := range refs {
		uids[i] = int64(r.uid)
	}
	op := map[imap.StoreFlagsOp]store.FlagOp{
		imap.StoreFlagsSet: store.FlagsSet, imap.StoreFlagsAdd: store.FlagsAdd, imap.StoreFlagsDel: store.FlagsRemove,
	}[flags.Op]
	msgs, err := s.srv.Store.SetFlags(s.ctx, s.sel.st.id, uids, op, fromFlags(flags.Flags))
	if err != nil {
		return err
	}
	s.sel.st.flagsChanged(msgs, s.sel.tracker)
	if flags.Silent {
		return nil
	}
	byUID := make(map[imap.UID]*store.MailMessage, len(msgs))
	for i := range msgs {
		byUID[imap.UID(msgs[i].UID)] = &msgs[i]
	}
	for _, r := range refs {
		if m := byUID[r.uid]; m != nil {
			rw := w.CreateMessage(r.seq)
			s.fetching = rw
			rw.WriteUID(r.uid)
			rw.WriteFlags(toFlags(m.FlagList()))
			s.fetching = nil
			if err := rw.Close(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Copy is called by COPY and UID COPY.
func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	return s.copy(numSet, dest, false)
}

// Move is called by MOVE and UID MOVE; the EXPUNGE responses are written
// by the Poll that follows the COPYUID response.
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if s.sel.readOnly {
		return errReadOnly
	}
	data, err := s.copy(numSet, dest, true)
	if err != nil {
		return err
	}
	if err := w.WriteCopyData(data); err != nil {
		return err
	}
	return s.sel.st.sync(s.ctx)
}

func (s *session) copy(numSet imap.NumSet, dest string, move bool) (*imap.CopyData, error) {
	to, err := s.srv.Store.Folder(s.ctx, s.partner(), dest)
	if err != nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such folder"}
	}
	refs := s.sel.st.resolve(s.sel.tracker, numSet)
	uids := make([]int64, len(refs))
	for i, r := range refs {
		uids[i] = int64(r.uid)
	}
	src, dst, err := s.srv.Store.Copy(s.ctx, s.sel.st.id, uids, to.ID, move)
	if err != nil {
		return nil, imapError(err) // NO [OVERQUOTA] for a copy past the quota
	}
	data := &imap.CopyData{UIDValidity: uint32(to.UIDValidity)}
	for i := range src {
		data.SourceUIDs.AddNum(imap.UID(src[i]))
		data.DestUIDs.AddNum(imap.UID(dst[i]))
	}
	return data, nil
}
