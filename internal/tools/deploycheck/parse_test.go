package deploycheck

import (
	"slices"
	"strings"
	"testing"
)

const sampleDockerfile = `# syntax=docker/dockerfile:1
ARG UNUSED=1
FROM golang:1.26-bookworm AS Build
WORKDIR /src
ENV CGO_ENABLED=1 GOFLAGS="-mod=readonly -p=2"
ENV LEGACY some value
RUN --mount=type=cache,target=/go/pkg/mod \
    # a comment inside a continuation is dropped
    go build -o /out/a -tags musl,netgo ./cmd/a && \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o=/out/b ./cmd/b; echo done | cat

FROM debian:12-slim AS base
WORKDIR app
COPY --from=build /out/a /out/b bin/
COPY ["configs/", "/etc/x/"]
USER 10001

FROM base AS final
HEALTHCHECK --interval=5s CMD ["/app/bin/b", "http://127.0.0.1:8080/healthz"]
EXPOSE 8080/tcp
ENTRYPOINT /app/bin/a --flag

FROM final AS quiet
HEALTHCHECK NONE
`

func TestParseDockerfile(t *testing.T) {
	df, err := ParseDockerfile(strings.NewReader(sampleDockerfile))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(df.Stages); got != 4 {
		t.Fatalf("%d stages, want 4", got)
	}
	build, err := df.Resolve("BUILD")
	if err != nil {
		t.Fatal(err)
	}
	if build.Env["GOFLAGS"] != "-mod=readonly -p=2" || build.Env["LEGACY"] != "some value" {
		t.Errorf("env %q", build.Env)
	}
	if len(build.Builds) != 2 {
		t.Fatalf("builds %+v, want 2", build.Builds)
	}
	a, b := build.Builds[0], build.Builds[1]
	if a.Line != 7 || a.Output != "/out/a" || !slices.Equal(a.Packages, []string{"./cmd/a"}) ||
		!slices.Equal(a.Tags, []string{"musl", "netgo"}) || a.Env["CGO_ENABLED"] != "1" {
		t.Errorf("first build %+v", a)
	}
	if b.Output != "/out/b" || b.Env["CGO_ENABLED"] != "0" || !slices.Equal(b.Flags, []string{"-trimpath", "-ldflags=-s -w"}) {
		t.Errorf("second build %+v", b)
	}
	if build.Env["CGO_ENABLED"] != "1" {
		t.Error("an inline assignment leaked into the stage's ENV")
	}

	final, err := df.Resolve("final")
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case final.Base != "debian:12-slim", final.User != "10001", final.WorkDir != "/app":
		t.Errorf("base %q user %q workdir %q", final.Base, final.User, final.WorkDir)
	case !slices.Equal(final.Entrypoint, []string{"/bin/sh", "-c", "/app/bin/a --flag"}):
		t.Errorf("entrypoint %q", final.Entrypoint)
	case final.Healthcheck == nil || !slices.Equal(final.Healthcheck.Test, []string{"/app/bin/b", "http://127.0.0.1:8080/healthz"}):
		t.Errorf("healthcheck %+v", final.Healthcheck)
	case !slices.Equal(final.Exposed, []string{"8080/tcp"}):
		t.Errorf("exposed %q", final.Exposed)
	case len(final.Builds) != 0:
		t.Errorf("builds of earlier stages counted as the target's: %+v", final.Builds)
	}
	copyBin := final.Copies[0]
	if copyBin.From != "build" || copyBin.Target("/out/b") != "/app/bin/b" {
		t.Errorf("copy %+v puts /out/b at %s", copyBin, copyBin.Target("/out/b"))
	}
	if c := final.Copies[1]; c.From != "" || c.Dest != "/etc/x/" || !slices.Equal(c.Sources, []string{"configs/"}) {
		t.Errorf("exec-form copy %+v", c)
	}

	quiet, err := df.Resolve("quiet")
	if err != nil {
		t.Fatal(err)
	}
	if quiet.Healthcheck == nil || !quiet.Healthcheck.None || quiet.User != "10001" {
		t.Errorf("quiet: healthcheck %+v user %q", quiet.Healthcheck, quiet.User)
	}
	if _, err := df.Resolve("missing"); err == nil {
		t.Error("resolving a missing stage succeeded")
	}
}

func TestParseDockerfileErrors(t *testing.T) {
	for _, text := range []string{
		"",
		"RUN true\n",
		"FROM a AS x\nFROM b AS x\n",
		"FROM a AS\n",
		"FROM a\nRUN echo \\\n",
	} {
		if _, err := ParseDockerfile(strings.NewReader(text)); err == nil {
			t.Errorf("%q parsed", text)
		}
	}
}

func TestDockerignoreMatching(t *testing.T) {
	ignore, err := ParseDockerignore(strings.NewReader(`
# comment
.git
/bin
*.md
**/*.test
docs/*
!docs/keep.md
sub/**/tmp
`))
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]bool{
		".git/HEAD":          true,
		"bin":                true,
		"bin/aggregator":     true,
		"cmd/bin/x.go":       false, // patterns are anchored at the root
		"README.md":          true,
		"aggregator/doc.md":  false,
		"x.test":             true,
		"a/b/c.test":         true,
		"docs/guide.md":      true,
		"docs/keep.md":       false,
		"sub/tmp/x":          true,
		"sub/a/b/tmp":        true,
		"sub/a/tmpfile":      false,
		"go.mod":             false,
		"configs/agg.yaml":   false,
		"./aggregator/x.go":  false,
		"aggregator/x.test2": false,
	} {
		if got := ignore.Excludes(file); got != want {
			t.Errorf("Excludes(%q) = %v, want %v", file, got, want)
		}
	}
}
