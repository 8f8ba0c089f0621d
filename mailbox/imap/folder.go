package imap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/ferryhq/ferry/store"
)

// folderState is this node's view of a selected folder, shared by every
// session that selected it: the UIDs in order (message sequence number n
// is uids[n-1]) and a copy of each message's row (flags and modseq as
// last announced, size, date, blob, and the header once a FETCH needed
// it). It is a cache of the database, brought up to date by sync, which
// every command runs (FETCH before it reads the copy, every command in
// Poll after it): one statement tells whether the folder changed, on any
// node, and returns what did. The tracker turns the changes into each
// session's EXPUNGE/EXISTS/FETCH responses.
type folderState struct {
	srv     *Server
	id      string
	tracker *imapserver.MailboxTracker
	refs    int // guarded by srv.mu

	mu          sync.Mutex
	uids        []imap.UID
	msgs        map[imap.UID]*message
	version     store.MailFolderVersion // at the last sync
	uidValidity uint32
	uidNext     imap.UID
	synced      bool
	cached      int64 // header bytes held, charged to srv.headerCache
}

// sync reads what changed in the folder since the last sync and queues it
// (expunges, new messages, flag changes) to every session.
func (st *folderState) sync(ctx context.Context) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	db := st.srv.Store.DB
	since := st.version.Modseq
	if !st.synced {
		since = 0
	}
	v, changes, err := db.MailFolderChanges(ctx, st.id, since)
	deleted := errors.Is(err, store.ErrNotFound) // by another session: every message is gone
	switch {
	case deleted:
	case err != nil:
		return fmt.Errorf("imap: sync folder: %w", err)
	case st.synced && v == st.version:
		return nil
	}

	var last imap.UID
	if n := len(st.uids); n > 0 {
		last = st.uids[n-1]
	}
	var added []store.MailMessage // UIDs commit in order: new ones come after the known ones
	for _, c := range changes {
		if imap.UID(c.UID) > last {
			added = append(added, c)
		}
	}
	// An expunge leaves no row: it shows as fewer messages than known
	// plus added, read in the same statement. Then the UIDs tell which.
	var present map[imap.UID]bool
	switch {
	case deleted:
		present = map[imap.UID]bool{}
	case v.Messages != int64(len(st.uids)+len(added)):
		uids, err := db.MailFolderUIDs(ctx, st.id)
		if err != nil {
			return fmt.Errorf("imap: sync folder: %w", err)
		}
		present = make(map[imap.UID]bool, len(uids))
		for _, u := range uids {
			present[imap.UID(u)] = true
		}
	}
	if present != nil {
		// From the highest sequence number down, so that each number is
		// right when queued.
		for i := len(st.uids) - 1; i >= 0; i-- {
			if u := st.uids[i]; !present[u] {
				st.tracker.QueueExpunge(uint32(i + 1))
				st.uids = slices.Delete(st.uids, i, i+1)
				st.forget(u)
			}
		}
	}
	n := len(st.uids)
	for _, c := range added {
		u := imap.UID(c.UID)
		if present != nil && !present[u] {
			continue // added and expunged since the first statement
		}
		st.uids = append(st.uids, u)
		st.msgs[u] = newMessage(&c)
	}
	// One count per new message: SessionTracker.EncodeSeqNum (go-imap
	// v2.0.0-beta.9) hides from a session only the last message of each
	// count it has not been sent yet, and a FETCH must not answer a
	// message before its EXISTS. Before the first session (the first
	// sync), one count does.
	switch {
	case len(st.uids) == n:
	case !st.synced:
		st.tracker.QueueNumMessages(uint32(len(st.uids)))
	default:
		for k := n + 1; k <= len(st.uids); k++ {
			st.tracker.QueueNumMessages(uint32(k))
		}
	}
	// Flag changes of messages the sessions already know.
	for _, c := range changes {
		u := imap.UID(c.UID)
		m := st.msgs[u]
		if u > last || m == nil || c.Modseq <= m.modseq {
			continue
		}
		m.flags, m.modseq = c.Flags, c.Modseq
		if seq, ok := slices.BinarySearch(st.uids, u); ok {
			st.tracker.QueueMessageFlags(uint32(seq+1), u, toFlags(c.FlagList()), nil)
		}
	}
	if !deleted {
		st.version = v
		st.uidValidity = uint32(v.UIDValidity)
		st.uidNext = imap.UID(v.UIDNext)
		if n := len(st.uids); n > 0 {
			st.uidNext = max(st.uidNext, st.uids[n-1]+1)
		}
	}
	st.synced = true
	return nil
}

// flagsChanged records and announces flag changes this node made: every
// session but source gets a FETCH (FLAGS); source answers for itself.
func (st *folderState) flagsChanged(msgs []store.MailMessage, source *imapserver.SessionTracker) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, c := range msgs {
		u := imap.UID(c.UID)
		seq, ok := slices.BinarySearch(st.uids, u)
		m := st.msgs[u]
		if !ok || m == nil || m.modseq >= c.Modseq {
			continue
		}
		m.flags, m.modseq = c.Flags, c.Modseq
		st.tracker.QueueMessageFlags(uint32(seq+1), u, toFlags(c.FlagList()), source)
	}
}

// ref is one message a command addresses.
type ref struct {
	seq uint32 // in the client's view
	uid imap.UID
}

// resolve turns a sequence or UID set of one session into messages, in
// order. "*" is the last message of the client's view (sequence numbers)
// or the highest UID.
func (st *folderState) resolve(t *imapserver.SessionTracker, numSet imap.NumSet) []ref {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []ref
	switch set := numSet.(type) {
	case imap.SeqSet:
		var maxSeq uint32
		for i := len(st.uids); i > 0 && maxSeq == 0; i-- {
			maxSeq = t.EncodeSeqNum(uint32(i))
		}
		set = staticSeqSet(set, maxSeq)
		for i, u := range st.uids {
			if seq := t.EncodeSeqNum(uint32(i + 1)); seq != 0 && set.Contains(seq) {
				out = append(out, ref{seq: seq, uid: u})
			}
		}
	case imap.UIDSet:
		var maxUID imap.UID
		if n := len(st.uids); n > 0 {
			maxUID = st.uids[n-1]
		}
		set = staticUIDSet(set, maxUID)
		for i, u := range st.uids {
			if set.Contains(u) {
				if seq := t.EncodeSeqNum(uint32(i + 1)); seq != 0 {
					out = append(out, ref{seq: seq, uid: u})
				}
			}
		}
	}
	return out
}

// clientView returns (sequence number, UID) of every message the session
// sees, for SEARCH.
func (st *folderState) clientView(t *imapserver.SessionTracker) []ref {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]ref, 0, len(st.uids))
	for i, u := range st.uids {
		if seq := t.EncodeSeqNum(uint32(i + 1)); seq != 0 {
			out = append(out, ref{seq: seq, uid: u})
		}
	}
	return out
}

func staticSeqSet(set imap.SeqSet, max uint32) imap.SeqSet {
	out := slices.Clone(set)
	for i := range out {
		staticRange(&out[i].Start, &out[i].Stop, max)
	}
	return out
}

func staticUIDSet(set imap.UIDSet, max imap.UID) imap.UIDSet {
	out := slices.Clone(set)
	for i := range out {
		start, stop := uint32(out[i].Start), uint32(out[i].Stop)
		staticRange(&start, &stop, uint32(max))
		out[i].Start, out[i].Stop = imap.UID(start), imap.UID(stop)
	}
	return out
}

// staticRange replaces "*" (0) by max and orders the range.
func staticRange(start, stop *uint32, max uint32) {
	if *start == 0 {
		*start = max
	}
	if *stop == 0 {
		*stop = max
	}
	if *start > *stop {
		*start, *stop = *stop, *start
	}
}

func toFlags(list []string) []imap.Flag {
	out := make([]imap.Flag, len(list))
	for i, f := range list {
		out[i] = imap.Flag(f)
	}
	return out
}

func fromFlags(list []imap.Flag) []string {
	out := make([]string, 0, len(list))
	for _, f := range list {
		if strings.EqualFold(string(f), `\Recent`) || f == imap.FlagWildcard {
			continue // \Recent is the server's; \* is not a flag
		}
		out = append(out, string(f))
	}
	return out
}
