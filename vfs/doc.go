// Package vfs holds Ferry's file behaviour as small afero wrappers that each
// do one thing and compose:
//
//	Perms(Jail(Root(partner dir), home), perms)
//
// Root is the OS backend for one partner's tree, built on os.Root so that no
// name and no symlink can reach outside it. Jail confines a session to a
// sub-folder and rewrites error paths to the names the client used. Perms
// refuses what an account may not do. None of them knows about FTP.
package vfs
