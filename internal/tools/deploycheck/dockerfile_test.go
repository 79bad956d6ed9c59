package deploycheck

import (
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// httpPorts maps each service image to the port of its default http.addr;
// tradegen serves no HTTP.
func httpPorts(t *testing.T) map[string]string {
	t.Helper()
	ports := map[string]string{}
	for _, svc := range Services {
		_, port, err := net.SplitHostPort(svc.DefaultHTTPAddr())
		if err != nil {
			t.Fatalf("%s: default http.addr: %v", svc.Name, err)
		}
		ports[svc.Name] = port
	}
	return ports
}

func TestDockerfile(t *testing.T) {
	df := readDockerfile(t)
	for _, p := range dockerfileProblems(df, listPackages(t), httpPorts(t)) {
		t.Error(p)
	}
}

// TestDockerfileProblems makes sure the checks catch the mistakes they exist
// for, by breaking a copy of the real Dockerfile one way at a time.
func TestDockerfileProblems(t *testing.T) {
	original, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, old, new string
		want           string // part of a reported problem
	}{
		{"musl runtime under a glibc build", "gcr.io/distroless/base-debian12:nonroot", "alpine:3.22", "C library"},
		{"newer Debian at runtime only", "gcr.io/distroless/base-debian12:nonroot", "gcr.io/distroless/base-debian13:nonroot", "Debian 13"},
		{"Alpine builder without -tags musl", "golang:1.26-bookworm", "golang:1.26-alpine", "-tags musl"},
		{"static runtime", "gcr.io/distroless/base-debian12:nonroot", "gcr.io/distroless/static-debian12:nonroot", "C library"},
		{"cgo off", "ENV CGO_ENABLED=1", "ENV CGO_ENABLED=0", "CGO_ENABLED"},
		{"root", "USER 65532:65532", "USER root", "non-root"},
		{"no user", "USER 65532:65532", "", "root"},
		{"wrong health port", "http://127.0.0.1:9101/healthz", "http://127.0.0.1:9090/healthz", "healthz"},
		{"port not exposed", "EXPOSE 9102", "EXPOSE 9090", "EXPOSE"},
		{"no such command", "./cmd/sink", "./cmd/sinks", "no main package"},
		{"unpinned base", "golang:1.26-bookworm", "golang", "no tag"},
		{"configs elsewhere", "COPY configs/ /app/configs/", "COPY configs/ /etc/tickcompact/", "configs"},
		{"binary not from a build", "COPY --from=build /out/tradegen", "COPY --from=build /out/tradegen2", "ENTRYPOINT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(original), tc.old) {
				t.Fatalf("the Dockerfile no longer contains %q: update this case", tc.old)
			}
			df, err := ParseDockerfile(strings.NewReader(strings.ReplaceAll(string(original), tc.old, tc.new)))
			if err != nil {
				t.Fatal(err)
			}
			problems := dockerfileProblems(df, listPackages(t), httpPorts(t))
			for _, p := range problems {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("no problem mentions %q; got %q", tc.want, problems)
		})
	}
}

// dockerfileProblems checks a Dockerfile against the module's commands and
// returns what is wrong, one sentence each.
func dockerfileProblems(df *Dockerfile, pkgs goPackages, httpPorts map[string]string) []string {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	// Every go build: a command under ./cmd, cgo for librdkafka, the builder's C library.
	built := map[string]bool{}
	for _, stage := range df.Stages {
		if stage.Name == "" {
			continue
		}
		img, err := df.Resolve(stage.Name)
		if err != nil {
			report("stage %s: %v", stage.Name, err)
			continue
		}
		if why := pinned(img.Base); why != "" {
			report("stage %s: base image %q %s", stage.Name, img.Base, why)
		}
		for _, b := range img.Builds {
			for _, p := range goBuildProblems(b, img.Base, pkgs) {
				report("line %d: %s", b.Line, p)
			}
			for _, p := range b.Packages {
				built[path.Clean(p)] = true
			}
		}
	}
	for _, svc := range services {
		if !built["cmd/"+svc] {
			report("no go build of ./cmd/%s", svc)
		}
	}

	// Every service image.
	for _, svc := range services {
		img, err := df.Resolve(svc)
		if err != nil {
			report("target %s: %v", svc, err)
			continue
		}
		for _, p := range imageProblems(df, img, httpPorts[svc]) {
			report("target %s: %s", svc, p)
		}
	}
	return problems
}

func goBuildProblems(b GoBuild, builderBase string, pkgs goPackages) []string {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(b.Packages) != 1 {
		report("go build of %q: build one package per command, with -o", b.Packages)
		return problems
	}
	dir := path.Clean(b.Packages[0])
	cmd, ok := pkgs.commands[dir]
	if !ok {
		report("go build %s: no main package %s under ./cmd (the Makefile builds ./cmd/...)", b.Packages[0], dir)
		return problems
	}
	if cmd.Error != nil {
		report("go build %s: the package does not load: %s", b.Packages[0], cmd.Error.Err)
	}
	if path.Base(b.Output) != path.Base(dir) {
		report("go build %s -o %s: name the binary after its command, as `go build -o bin/ ./cmd/...` does", b.Packages[0], b.Output)
	}
	if !contains(b.Flags, "-trimpath") {
		report("go build %s: add -trimpath (reproducible, no build paths in the binary)", b.Packages[0])
	}
	if !cmd.uses(kafkaPackage) {
		return problems
	}
	if b.Env["CGO_ENABLED"] != "1" {
		report("go build %s: links librdkafka and needs CGO_ENABLED=1, has %q", b.Packages[0], b.Env["CGO_ENABLED"])
	}
	switch family, _ := libc(builderBase); family {
	case "musl":
		if !contains(b.Tags, "musl") {
			report("go build %s: the builder %s is Alpine: build with -tags musl for the musl librdkafka", b.Packages[0], builderBase)
		}
	case "glibc":
		if contains(b.Tags, "musl") {
			report("go build %s: -tags musl on a glibc builder (%s)", b.Packages[0], builderBase)
		}
	default:
		report("go build %s: unknown C library of the builder image %s", b.Packages[0], builderBase)
	}
	return problems
}

// imageProblems checks one service image: its binary, user, config files and
// health check. httpPort is "" for a service without an HTTP endpoint.
func imageProblems(df *Dockerfile, img *Image, httpPort string) []string {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if why := pinned(img.Base); why != "" {
		report("runtime image %q %s", img.Base, why)
	}
	uid, _, _ := strings.Cut(img.User, ":")
	switch {
	case img.User == "":
		report("no USER: the container runs as whatever the base image says, root for most")
	case strings.Trim(uid, "0123456789") != "" || uid == "":
		report("USER %s: give a numeric non-root UID, so that Kubernetes' runAsNonRoot can verify it", img.User)
	case strings.Trim(uid, "0") == "":
		report("USER %s: want a non-root UID", img.User)
	}

	if len(img.Entrypoint) != 1 {
		report("ENTRYPOINT %q: want the service binary alone, in exec form", img.Entrypoint)
	} else if build, builderBase, ok := builtBy(df, img, img.Entrypoint[0]); !ok {
		report("ENTRYPOINT %s is not copied from a go build", img.Entrypoint[0])
	} else if want := "cmd/" + img.Target; path.Clean(build.Packages[0]) != want {
		report("ENTRYPOINT %s is built from %s, want ./%s", img.Entrypoint[0], build.Packages[0], want)
	} else {
		buildFamily, buildRelease := libc(builderBase)
		runFamily, runRelease := libc(img.Base)
		switch {
		case runFamily != buildFamily:
			report("C library: built on %s (%s), runs on %s (%s): librdkafka needs the builder's C library at run time",
				builderBase, orUnknown(buildFamily), img.Base, orUnknown(runFamily))
		case buildFamily == "glibc" && runRelease != buildRelease:
			report("built on Debian %s (%s), runs on Debian %s (%s): use the same release, so glibc matches",
				buildRelease, builderBase, runRelease, img.Base)
		}
	}

	configs := path.Join(img.WorkDir, "configs")
	found := false
	for _, c := range img.Copies {
		for _, s := range c.Sources {
			if c.From == "" && path.Clean(s) == "configs" && path.Clean(c.Dest) == configs {
				found = true
			}
		}
	}
	if !found {
		report("configs/ is not copied to %s, where the service looks for configs/<service>.yaml (WORKDIR %s)", configs, img.WorkDir)
	}

	if httpPort == "" {
		if img.Healthcheck != nil && !img.Healthcheck.None {
			report("HEALTHCHECK on a service with no HTTP endpoint")
		}
		return problems
	}
	if !contains(img.Exposed, httpPort) && !contains(img.Exposed, httpPort+"/tcp") {
		report("EXPOSE %q does not include the HTTP port %s", img.Exposed, httpPort)
	}
	hc := img.Healthcheck
	if hc == nil || hc.None {
		report("no HEALTHCHECK")
		return problems
	}
	if _, _, ok := builtBy(df, img, hc.Test[0]); !ok {
		report("HEALTHCHECK runs %s, which is not copied from a go build (the runtime image has no shell tools)", hc.Test[0])
	}
	if want := "http://127.0.0.1:" + httpPort + "/healthz"; !contains(hc.Test, want) {
		report("HEALTHCHECK %q does not probe %s", hc.Test, want)
	}
	return problems
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// builtBy finds the go build whose output is copied to file in img, and the
// base image of the stage it is built in.
func builtBy(df *Dockerfile, img *Image, file string) (GoBuild, string, bool) {
	for i := len(img.Copies) - 1; i >= 0; i-- {
		c := img.Copies[i]
		if c.From == "" {
			continue
		}
		for _, src := range c.Sources {
			if c.Target(src) != file {
				continue
			}
			from, err := df.Resolve(c.From)
			if err != nil {
				return GoBuild{}, "", false
			}
			for _, b := range from.Builds {
				if b.Output == src && len(b.Packages) == 1 {
					return b, from.Base, true
				}
			}
			return GoBuild{}, "", false
		}
	}
	return GoBuild{}, "", false
}

func TestDockerignore(t *testing.T) {
	root := repoRoot(t)
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ignore, err := ParseDockerignore(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, unwanted := range []string{".git/HEAD", "bin/aggregator", ".cache/go-build/x", "sink/sink.test", "aggregator/cpu.prof"} {
		if !ignore.Excludes(unwanted) {
			t.Errorf(".dockerignore lets %s into the build context", unwanted)
		}
	}

	needed := append([]string{"go.mod", "go.sum"}, listPackages(t).moduleFiles(root)...)
	configs, err := filepath.Glob(filepath.Join(root, "configs", "*"))
	if err != nil || len(configs) == 0 {
		t.Fatalf("no configs/: %v", err)
	}
	for _, c := range configs {
		needed = append(needed, "configs/"+filepath.Base(c))
	}
	img, err := readDockerfile(t).Resolve("build")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range img.Copies {
		for _, s := range c.Sources {
			if c.From == "" && path.Clean(s) != "." {
				needed = append(needed, path.Clean(s))
			}
		}
	}
	for _, file := range needed {
		if ignore.Excludes(file) {
			t.Errorf(".dockerignore excludes %s, which the build needs", file)
		}
	}
}
