package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version: `ferry version` prints what this binary was built from.
func (a *app) version(args []string) error {
	c := newCommand("version", a.stderr)
	if _, err := c.parse(args); err != nil {
		return err
	}
	if len(c.pos) > 0 {
		return usagef("version takes no arguments, got %q", c.pos)
	}
	info, _ := debug.ReadBuildInfo()
	fmt.Fprint(a.stdout, versionText(version, info))
	return nil
}

// versionText is the version (the -X main.version of a release build, else
// the module version `go install ...@vX` records, else "dev"), the VCS
// revision and time `go build` stamps from a git checkout, and the Go
// version and platform.
func versionText(ldVersion string, info *debug.BuildInfo) string {
	v := ldVersion
	goVersion := runtime.Version()
	var revision, when string
	var modified bool
	if info != nil {
		if v == "" || v == "dev" {
			if mv := info.Main.Version; mv != "" && mv != "(devel)" {
				v = mv
			}
		}
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ferry %s\n", v)
	if revision != "" {
		fmt.Fprintf(&b, "revision %s", revision)
		if when != "" {
			fmt.Fprintf(&b, " (%s)", when)
		}
		if modified {
			b.WriteString(" with uncommitted changes")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
