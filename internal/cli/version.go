package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version returns the --version text of the command name: the module and its
// version, the VCS revision and commit time the binary was built from (and
// whether the tree had uncommitted changes), and the Go toolchain, all read
// from the build information Go embeds (runtime/debug.ReadBuildInfo). A
// binary built without VCS information (go build -buildvcs=false, or from a
// tree without .git, as in the container build) says so.
func Version(name string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Sprintf("%s: no build information (built without module support)\n", name)
	}
	return version(name, info.Main.Path, info.Main.Version, info.Settings, runtime.Version())
}

func version(name, module, moduleVersion string, settings []debug.BuildSetting, goVersion string) string {
	vcs := map[string]string{}
	for _, s := range settings {
		vcs[s.Key] = s.Value
	}
	if moduleVersion == "" {
		moduleVersion = "(devel)"
	}
	revision := "unknown (built without VCS information)"
	if r := vcs["vcs.revision"]; r != "" {
		var details []string
		if t := vcs["vcs.time"]; t != "" {
			details = append(details, "committed "+t)
		}
		if vcs["vcs.modified"] == "true" {
			details = append(details, "with uncommitted changes")
		}
		revision = r
		if len(details) > 0 {
			revision += " (" + strings.Join(details, ", ") + ")"
		}
	}
	return fmt.Sprintf("%s: module %s %s\nrevision %s\nbuilt with %s %s/%s\n",
		name, module, moduleVersion, revision, goVersion, runtime.GOOS, runtime.GOARCH)
}
