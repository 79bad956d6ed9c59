package cli_test

import (
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"tickcompact/internal/tools/testkit"
)

// commands are every command the module ships.
var commands = []string{"aggregator", "sink", "gateway", "tradegen", "verify", "demo", "bench", "healthcheck"}

// Every command answers --help and --version on stdout with exit code 0,
// before doing anything else; the help lists each flag with a description.
func TestEveryCommandAnswersHelpAndVersion(t *testing.T) {
	flagLine := regexp.MustCompile(`^(  -\w, |      )--\w`)
	for _, name := range commands {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bin := testkit.Binary(t, name)
			help := runOK(t, bin, "--help")
			if !strings.HasPrefix(help, name+" ") || !strings.Contains(help, "\nFlags:\n") {
				t.Errorf("--help does not start with what %s does, or lists no flags:\n%s", name, help)
			}
			flags := 0
			_, list, _ := strings.Cut(help, "\nFlags:\n")
			list, _, _ = strings.Cut(list, "\n\n")
			for _, line := range strings.Split(list, "\n") {
				if !flagLine.MatchString(line) {
					continue
				}
				flags++
				// The flag, its type, then at least two spaces and a description.
				if f := strings.SplitN(strings.TrimSpace(line), "  ", 2); len(f) < 2 || strings.TrimSpace(f[1]) == "" {
					t.Errorf("flag without a description: %q", line)
				}
			}
			if flags < 3 || !strings.Contains(help, "--version") {
				t.Errorf("--help lists %d flags:\n%s", flags, help)
			}
			if version := runOK(t, bin, "--version"); !strings.HasPrefix(version, name+": module tickcompact") || !strings.Contains(version, "\nrevision ") {
				t.Errorf("--version = %q", version)
			}
		})
	}
}

func runOK(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir() // no configs/ here
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %q: %v; stderr %s", bin, args, err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("%s %q wrote to stderr: %s", bin, args, stderr.String())
	}
	return stdout.String()
}
