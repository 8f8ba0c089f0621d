package partners

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ferryhq/ferry/vfs"
)

// Perm is a set of things an account may do: in its file tree (the file
// permissions, which vfs.Perms enforces through Allows) and with the
// partner's mailbox (PermMail).
type Perm uint16

// The permissions, in the order they are written.
const (
	PermList      Perm = 1 << iota // see folder contents and file details
	PermDownload                   // read files
	PermUpload                     // create new files
	PermOverwrite                  // replace, append to or resume existing files, set their times
	PermDelete                     // delete files and empty folders
	PermRename                     // rename and move
	PermMkdir                      // create folders
	PermMail                       // read the partner's mailbox over IMAP and POP3 (not a file permission)
)

var permNames = []struct {
	p    Perm
	name string
}{
	{PermList, "list"}, {PermDownload, "download"}, {PermUpload, "upload"}, {PermOverwrite, "overwrite"},
	{PermDelete, "delete"}, {PermRename, "rename"}, {PermMkdir, "mkdir"}, {PermMail, "mail"},
}

// PermAll is every permission; new accounts get it unless told otherwise.
const PermAll = PermList | PermDownload | PermUpload | PermOverwrite | PermDelete | PermRename | PermMkdir | PermMail

// PermNames lists the valid permission names.
func PermNames() []string {
	out := make([]string, 0, len(permNames))
	for _, n := range permNames {
		out = append(out, n.name)
	}
	return out
}

// ParsePerm parses a comma-separated list such as "list,download"; "all" is
// every permission and "" none.
func ParsePerm(s string) (Perm, error) {
	var p Perm
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		if f == "all" {
			p |= PermAll
			continue
		}
		i := slices.IndexFunc(permNames, func(n struct {
			p    Perm
			name string
		}) bool {
			return n.name == f
		})
		if i < 0 {
			return 0, fmt.Errorf("unknown permission %q (valid: all, %s)", f, strings.Join(PermNames(), ", "))
		}
		p |= permNames[i].p
	}
	return p, nil
}

// Has reports whether every permission in q is in p.
func (p Perm) Has(q Perm) bool { return p&q == q }

// String writes p as ParsePerm reads it.
func (p Perm) String() string {
	var parts []string
	for _, n := range permNames {
		if p.Has(n.p) {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, ",")
}

// fileActions maps each file permission to the vfs action it allows.
var fileActions = [...]Perm{
	vfs.ActList: PermList, vfs.ActDownload: PermDownload, vfs.ActUpload: PermUpload,
	vfs.ActOverwrite: PermOverwrite, vfs.ActDelete: PermDelete, vfs.ActRename: PermRename, vfs.ActMkdir: PermMkdir,
}

// Allows reports whether p permits the file action a (vfs.Allowed).
func (p Perm) Allows(a vfs.Action) bool {
	return int(a) < len(fileActions) && p.Has(fileActions[a])
}

var _ vfs.Allowed = Perm(0)
