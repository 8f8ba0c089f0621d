package vfs

import (
	"io/fs"
	"os"
	"path"

	"github.com/spf13/afero"
)

// ReadDir lists the folder name of fsys as a partner sees it. A symlink
// (only an operator can make one: no protocol creates them) is listed as
// what it points to — a file or a folder, with the link's name — when fsys
// can open that target, and is left out when it dangles or leads out of
// the tree (Root refuses to follow it). A listing then never shows an
// entry that a download or CWD of the same name would refuse, and never
// shows a link as a link.
func ReadDir(fsys afero.Fs, name string) ([]os.FileInfo, error) {
	d, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	infos, err := d.Readdir(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	out := infos[:0]
	for _, fi := range infos {
		if fi.Mode()&fs.ModeSymlink == 0 {
			out = append(out, fi)
			continue
		}
		target, err := fsys.Stat(path.Join(name, fi.Name()))
		if err != nil || IsPartial(target) || !target.Mode().IsRegular() && !target.IsDir() {
			continue
		}
		out = append(out, linkInfo{FileInfo: target, name: fi.Name()})
	}
	return out, nil
}

// linkInfo is a symlink's target under the link's name.
type linkInfo struct {
	fs.FileInfo
	name string
}

func (l linkInfo) Name() string { return l.name }
