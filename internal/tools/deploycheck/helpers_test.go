package deploycheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// kafkaPackage is the package whose importers need cgo and librdkafka.
const kafkaPackage = "github.com/confluentinc/confluent-kafka-go/v2/kafka"

// services are the images the Dockerfile must build, each from ./cmd/<name>.
var services = []string{"aggregator", "sink", "tradegen", "gateway"}

// repoRoot returns the directory holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func readDockerfile(t *testing.T) *Dockerfile {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	df, err := ParseDockerfile(f)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return df
}

// goPackage is what the checks need from `go list -json`.
type goPackage struct {
	ImportPath string
	Name       string
	Dir        string
	Standard   bool
	Module     *struct{ Path string }
	GoFiles    []string
	CgoFiles   []string
	EmbedFiles []string
	Deps       []string
	Error      *struct{ Err string } // with -e: why the package does not load
}

// uses reports whether the package imports importPath, directly or not.
func (p goPackage) uses(importPath string) bool {
	for _, d := range p.Deps {
		if d == importPath {
			return true
		}
	}
	return false
}

// goPackages is the main packages under ./cmd (what `go build -o bin/
// ./cmd/...` builds) and every package they depend on, by import path.
type goPackages struct {
	module   string               // the main module's path
	commands map[string]goPackage // by directory relative to the root: cmd/sink
	all      map[string]goPackage // by import path
}

var goList struct {
	once sync.Once
	pkgs goPackages
	err  error
}

// listPackages runs `go list -e -deps -json ./cmd/...` once per test binary.
// With -e, a command another change has broken is reported by the checks
// that need it instead of failing every test.
func listPackages(t *testing.T) goPackages {
	t.Helper()
	root := repoRoot(t)
	goList.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goList.err = err
			return
		}
		cmd := exec.Command(goTool, "list", "-e", "-deps", "-json", "./cmd/...")
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			goList.err = errors.New("go list: " + err.Error() + ": " + stderr.String())
			return
		}
		pkgs := goPackages{commands: map[string]goPackage{}, all: map[string]goPackage{}}
		dec := json.NewDecoder(bytes.NewReader(out))
		for {
			var p goPackage
			if err := dec.Decode(&p); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				goList.err = err
				return
			}
			pkgs.all[p.ImportPath] = p
			rel, err := filepath.Rel(root, p.Dir)
			if err == nil && p.Name == "main" && p.Module != nil && strings.HasPrefix(filepath.ToSlash(rel), "cmd/") {
				pkgs.commands[filepath.ToSlash(rel)] = p
				pkgs.module = p.Module.Path
			}
		}
		goList.pkgs = pkgs
	})
	if goList.err != nil {
		t.Fatal(goList.err)
	}
	return goList.pkgs
}

// moduleFiles returns the files of the main module's packages that the
// commands are compiled from (Go, cgo and embedded files), relative to root.
func (g goPackages) moduleFiles(root string) []string {
	var files []string
	for _, p := range g.all {
		if p.Module == nil || p.Module.Path != g.module {
			continue
		}
		for _, list := range [][]string{p.GoFiles, p.CgoFiles, p.EmbedFiles} {
			for _, f := range list {
				rel, err := filepath.Rel(root, filepath.Join(p.Dir, f))
				if err == nil {
					files = append(files, filepath.ToSlash(rel))
				}
			}
		}
	}
	sort.Strings(files)
	return files
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// imageTag returns the tag of an image reference ("" when it has none) and
// whether it is pinned by digest.
func imageTag(ref string) (tag string, digest bool) {
	if strings.Contains(ref, "@") {
		return "", true
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	_, tag, _ = strings.Cut(last, ":")
	return tag, false
}

// pinned explains why an image reference is not pinned, or returns "".
func pinned(ref string) string {
	switch tag, digest := imageTag(ref); {
	case digest:
		return ""
	case tag == "":
		return "has no tag (means latest)"
	case tag == "latest":
		return "is tagged latest"
	}
	return ""
}

// libc names the C library an image's binaries link against, and its Debian
// release when it is Debian-based: ("glibc", "12"), ("musl", ""), ("none", "")
// for static-only images, or ("", "") when the image is not one it knows.
func libc(ref string) (family, release string) {
	name, tag, _ := strings.Cut(ref[strings.LastIndex(ref, "/")+1:], ":")
	codenames := map[string]string{"bullseye": "11", "bookworm": "12", "trixie": "13"}
	switch {
	case strings.Contains(ref, "alpine"):
		return "musl", ""
	case strings.HasPrefix(ref, "gcr.io/distroless/"):
		kind, debian, ok := strings.Cut(name, "-debian")
		if !ok {
			return "", ""
		}
		if kind == "static" {
			return "none", debian
		}
		return "glibc", debian
	}
	for codename, number := range codenames {
		if strings.Contains(tag, codename) {
			return "glibc", number
		}
	}
	if name == "debian" {
		major, _, _ := strings.Cut(tag, ".")
		return "glibc", strings.TrimSuffix(major, "-slim")
	}
	return "", ""
}
