package imap

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/store"
)

// Search is called by SEARCH and UID SEARCH; the messages are matched by
// the mailbox core (mailbox.Candidate), the search the portal's webmail
// uses too.
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, _ *imap.SearchOptions) (*imap.SearchData, error) {
	view := s.sel.st.clientView(s.sel.tracker)
	var maxSeq uint32
	var maxUID imap.UID
	if n := len(view); n > 0 {
		maxSeq, maxUID = view[n-1].seq, view[n-1].uid
	}
	staticCriteria(criteria, maxSeq, maxUID)
	uids := make([]int64, len(view))
	for i, r := range view {
		uids[i] = int64(r.uid)
	}
	msgs, err := s.srv.Store.DB.MailMessagesByUID(s.ctx, s.sel.st.id, uids, mailbox.NeedsHeader(criteria))
	if err != nil {
		return nil, err
	}
	byUID := make(map[imap.UID]*store.MailMessage, len(msgs))
	for i := range msgs {
		byUID[imap.UID(msgs[i].UID)] = &msgs[i]
	}
	data := &imap.SearchData{}
	var seqs imap.SeqSet
	var uidSet imap.UIDSet
	for _, r := range view {
		m := byUID[r.uid]
		if m == nil {
			continue
		}
		if !s.srv.Store.Candidate(m, r.seq).Match(criteria) {
			continue
		}
		num := r.seq
		if kind == imapserver.NumKindUID {
			num = uint32(r.uid)
		}
		seqs.AddNum(r.seq)
		uidSet.AddNum(r.uid)
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		data.Max = max(data.Max, num)
		data.Count++
	}
	if kind == imapserver.NumKindUID {
		data.All = uidSet
	} else {
		data.All = seqs
	}
	return data, nil
}

func staticCriteria(c *imap.SearchCriteria, maxSeq uint32, maxUID imap.UID) {
	for i := range c.SeqNum {
		c.SeqNum[i] = staticSeqSet(c.SeqNum[i], maxSeq)
	}
	for i := range c.UID {
		c.UID[i] = staticUIDSet(c.UID[i], maxUID)
	}
	for i := range c.Not {
		staticCriteria(&c.Not[i], maxSeq, maxUID)
	}
	for i := range c.Or {
		staticCriteria(&c.Or[i][0], maxSeq, maxUID)
		staticCriteria(&c.Or[i][1], maxSeq, maxUID)
	}
}
