package cli

import (
	"bytes"
	"errors"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

var testCommand = Command{Name: "tool", Summary: "tool does one thing.", Footer: "Exit codes: 0 done."}

func newFlags() *pflag.FlagSet {
	flags := pflag.NewFlagSet("tool", pflag.ContinueOnError)
	flags.Duration("wait", 0, "how long to wait")
	flags.Int("count", 3, "how many")
	flags.Float64("rate", 1.5, "how fast")
	flags.Bool("dry-run", false, "change nothing")
	flags.StringToString("property", nil, "librdkafka property")
	return flags
}

func TestParseHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"--count=4", "--help"}} {
		err := testCommand.Parse(newFlags(), args)
		var out bytes.Buffer
		if !Answered(err, &out) {
			t.Fatalf("%q: err = %v, want an answer", args, err)
		}
		for _, want := range []string{"tool does one thing.", "Usage:\n  tool [flags]", "--wait duration", "how long to wait",
			"--count int", "how many (default 3)", "--rate float", "(default 1.5)", "--dry-run", "--help", "--version", "Exit codes: 0 done."} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%q: help lacks %q:\n%s", args, want, out.String())
			}
		}
		if strings.Index(out.String(), "--wait") > strings.Index(out.String(), "--count") {
			t.Errorf("help does not keep the flags' order:\n%s", out.String())
		}
	}
	var out bytes.Buffer
	if err := testCommand.Parse(newFlags(), []string{"--version"}); !Answered(err, &out) || !strings.HasPrefix(out.String(), "tool: module ") {
		t.Fatalf("--version: %v %q", err, out.String())
	}
	if err := testCommand.Parse(newFlags(), []string{"--count=4"}); err != nil || Answered(err, &out) {
		t.Fatalf("a plain command line: %v", err)
	}
}

// Flag errors read as sentences naming the flag, without strconv's wording.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--wait=soon"}, `--wait: "soon" is not a duration; write it with a unit`},
		{[]string{"--count=many"}, `--count: "many" is not a whole number`},
		{[]string{"--rate=fast"}, `--rate: "fast" is not a number`},
		{[]string{"--dry-run=maybe"}, `--dry-run: "maybe" is neither true nor false`},
		{[]string{"--nope"}, "--nope: no such flag"},
		{[]string{"--count"}, "--count: the value is missing: write --count=VALUE"},
		{[]string{"--property=sasl.password=hunter2,acks=all,x"}, "--property: want key=value"},
	} {
		err := testCommand.Parse(newFlags(), tc.args)
		var usage *UsageError
		if !errors.As(err, &usage) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.args, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "strconv") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: %v", tc.args, err)
		}
	}
}

func TestVersionText(t *testing.T) {
	settings := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "4434a2d0c0ffee"},
		{Key: "vcs.time", Value: "2026-12-07T00:46:26Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	got := version("sink", "tickcompact", "v0.0.0-20261207004626-4434a2d0c0ff+dirty", settings, "go1.26.8")
	for _, want := range []string{"sink: module tickcompact v0.0.0-20261207004626-4434a2d0c0ff+dirty",
		"revision 4434a2d0c0ffee (committed 2026-12-07T00:46:26Z, with uncommitted changes)", "built with go1.26.8"} {
		if !strings.Contains(got, want) {
			t.Errorf("version lacks %q:\n%s", want, got)
		}
	}
	if got := version("sink", "tickcompact", "", nil, "go1.26.8"); !strings.Contains(got, "(devel)") || !strings.Contains(got, "built without VCS information") {
		t.Errorf("without VCS information:\n%s", got)
	}
}
