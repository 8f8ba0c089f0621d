//go:build !unix

package vfs

func (r *Root) removeStaged(base string) error { return r.root.Remove(StagingDir + "/" + base) }
