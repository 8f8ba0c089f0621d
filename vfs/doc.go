// Package vfs holds Ferry's file behaviour as small afero wrappers that each
// do one thing and compose. The file core (package files) builds this stack
// for every principal, whatever the front end:
//
//	Perms(Jail(Quota(Atomic(Root(partner dir)), limits), home), allowed)
//
// Root is the OS backend for one partner's tree, built on os.Root so that no
// name and no symlink can reach outside it. Atomic writes uploads in a
// staging folder it hides and publishes a complete one by a rename, through
// a Committer (the file core's two-phase publish); an interrupted upload
// stays staged for a resume. Quota refuses early an upload that cannot fit
// the partner's limits (the check that counts is made at publish). Jail
// confines a principal to a sub-folder and rewrites error paths to the names
// the client used. Perms refuses the file actions a principal may not take
// (Allowed; an account's permissions are partners.Perm). None of them knows
// about FTP, the web, audit rows or accounts.
package vfs
