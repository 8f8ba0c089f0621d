package imap

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"
)

// bodyStructure returns the MIME structure of a raw message for FETCH
// BODYSTRUCTURE and BODY.
//
// go-imap's extractor describes a multipart whose boundary is missing or
// never appears (at the top, inside another part, or inside an attached
// message) as a multipart without children, and its FETCH writer panics on
// one: anyone could send such a message over SMTP and lock its partner out
// of the mailbox. Such a part is described as text/plain with its own
// bytes instead: a degenerate but valid structure, and what a client that
// fetches the part gets.
func bodyStructure(raw []byte) imap.BodyStructure {
	bs := imapserver.ExtractBodyStructure(bytes.NewReader(raw))
	if validStructure(bs) == nil {
		return bs
	}
	return repair(bs, messageBody(raw))
}

// messageBody returns the bytes after a message's header, which it reads
// the way go-imap's extractor does.
func messageBody(raw []byte) []byte {
	br := bufio.NewReader(bytes.NewReader(raw))
	_, _ = textproto.ReadHeader(br)
	body, _ := io.ReadAll(br)
	return body
}

// repair replaces every multipart without children in bs by a text/plain
// part. It walks body with the same MIME reader as go-imap's extractor, so
// the parts it reads are the ones bs describes.
func repair(bs imap.BodyStructure, body []byte) imap.BodyStructure {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if len(bs.Children) == 0 {
			return degenerate(bs, body)
		}
		var boundary string
		if bs.Extended != nil {
			boundary = bs.Extended.Params["boundary"]
		}
		mr := textproto.NewMultipartReader(bytes.NewReader(body), boundary)
		for i := range bs.Children {
			part, _ := mr.NextPart()
			if part == nil {
				break
			}
			pb, _ := io.ReadAll(part)
			bs.Children[i] = repair(bs.Children[i], pb)
		}
		return bs
	case *imap.BodyStructureSinglePart:
		if m := bs.MessageRFC822; m != nil && validStructure(m.BodyStructure) != nil {
			m.BodyStructure = repair(m.BodyStructure, messageBody(body))
		}
		return bs
	}
	return bs
}

// degenerate describes the bytes of a childless multipart as text/plain,
// keeping its disposition, language and location.
func degenerate(mp *imap.BodyStructureMultiPart, body []byte) *imap.BodyStructureSinglePart {
	ext := &imap.BodyStructureSinglePartExt{}
	if mp.Extended != nil {
		ext.Disposition, ext.Language, ext.Location = mp.Extended.Disposition, mp.Extended.Language, mp.Extended.Location
	}
	return &imap.BodyStructureSinglePart{
		Type: "text", Subtype: "plain", Size: uint32(len(body)),
		Text:     &imap.BodyStructureText{NumLines: int64(bytes.Count(body, []byte("\n")))},
		Extended: ext,
	}
}

// validStructure returns why go-imap's FETCH writer would panic on bs (a
// multipart without children, a part without the extended data that
// BODYSTRUCTURE needs, an unknown type), or nil.
func validStructure(bs imap.BodyStructure) error {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if bs == nil {
			return fmt.Errorf("nil multipart")
		}
		if len(bs.Children) == 0 {
			return fmt.Errorf("multipart/%s without parts", bs.Subtype)
		}
		if bs.Extended == nil {
			return fmt.Errorf("multipart/%s without extended data", bs.Subtype)
		}
		for _, c := range bs.Children {
			if err := validStructure(c); err != nil {
				return err
			}
		}
		return nil
	case *imap.BodyStructureSinglePart:
		if bs == nil || bs.Extended == nil {
			return fmt.Errorf("single part without extended data")
		}
		if m := bs.MessageRFC822; m != nil {
			return validStructure(m.BodyStructure)
		}
		return nil
	}
	return fmt.Errorf("unknown body structure %T", bs)
}
