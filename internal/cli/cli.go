// Package cli is what every tickcompact command shares on its command line:
// --help, which lists the flags with their defaults and one line each, and
// --version, which prints the module version and VCS revision the binary was
// built from, both on standard output with exit code 0; and the wording of
// flag errors, so that each reads as a sentence naming the flag. It depends on
// pflag only, so that the static healthcheck can use it too.
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// Command describes one command for its --help text.
type Command struct {
	// Name is the command's name, as typed: "aggregator".
	Name string
	// Summary says in a sentence or a short paragraph what the command does.
	Summary string
	// Usage is the synopsis after the name; "[flags]" when empty.
	Usage string
	// Footer, when set, follows the flag list: how values may also be given,
	// exit codes.
	Footer string
}

// Answer is returned by Parse instead of nil when the command line asked for
// --help or --version: the command writes Text to standard output and exits
// with code 0 without doing anything else.
type Answer struct {
	// Text is the help or version text, ending in a newline.
	Text string
}

func (a *Answer) Error() string { return "answered --help or --version" }

// Answered reports whether err is an *Answer, and when it is, writes its text
// to w. A command's main calls it first on the error of its parsing:
//
//	if cli.Answered(err, os.Stdout) { return 0 }
func Answered(err error, w io.Writer) bool {
	var a *Answer
	if !errors.As(err, &a) {
		return false
	}
	_, _ = io.WriteString(w, a.Text)
	return true
}

// wrapColumns is the width the flag list is wrapped to.
const wrapColumns = 100

// Parse parses args (without the program name) into flags, which it gives a
// --help (-h) and a --version flag. It returns an *Answer when either was
// given, a *UsageError when the command line is wrong, nil otherwise.
// Positional arguments are left in flags.Args(). --help lists the flags in
// the order they were defined.
func (c Command) Parse(flags *pflag.FlagSet, args []string) error {
	flags.SortFlags = false
	flags.SetOutput(io.Discard)
	flags.Usage = func() {}
	var help, version bool
	flags.BoolFuncP("help", "h", "show this help and exit", func(string) error { help = true; return nil })
	flags.BoolFunc("version", "show the version this binary was built from and exit", func(string) error { version = true; return nil })
	err := flags.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp) || help:
		return &Answer{Text: c.Help(flags)}
	case version:
		return &Answer{Text: Version(c.Name)}
	case err != nil:
		return flagError(err)
	}
	return nil
}

// Help returns the --help text of c with flags' list.
func (c Command) Help(flags *pflag.FlagSet) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(c.Summary))
	usage := c.Usage
	if usage == "" {
		usage = "[flags]"
	}
	fmt.Fprintf(&b, "\n\nUsage:\n  %s %s\n\nFlags:\n", c.Name, usage)
	b.WriteString(flags.FlagUsagesWrapped(wrapColumns))
	if footer := strings.TrimSpace(c.Footer); footer != "" {
		b.WriteString("\n" + footer + "\n")
	}
	return b.String()
}

// UsageError is a wrong command line, worded as a sentence that names the
// flag (or the argument) at fault.
type UsageError struct {
	// Flag is the flag's name without dashes, or "" when the problem is not
	// one flag's.
	Flag string
	// Problem completes a sentence about the flag or the command line.
	Problem string
	// Err is pflag's error, if any, kept for errors.As.
	Err error
}

func (e *UsageError) Error() string {
	if e.Flag == "" {
		return e.Problem
	}
	return "--" + e.Flag + ": " + e.Problem
}

func (e *UsageError) Unwrap() error { return e.Err }

// flagError rewords pflag's parse errors as sentences. A bad value is not
// repeated for key=value flags, whose entries may hold credentials.
func flagError(err error) error {
	var (
		notExist      *pflag.NotExistError
		valueRequired *pflag.ValueRequiredError
		invalid       *pflag.InvalidValueError
		syntax        *pflag.InvalidSyntaxError
	)
	switch {
	case errors.As(err, &notExist):
		return &UsageError{Flag: notExist.GetSpecifiedName(), Problem: "no such flag (see --help for the flags)", Err: err}
	case errors.As(err, &valueRequired):
		return &UsageError{Flag: valueRequired.GetSpecifiedName(), Problem: "the value is missing: write --" + valueRequired.GetSpecifiedName() + "=VALUE", Err: err}
	case errors.As(err, &invalid):
		f := invalid.GetFlag()
		return &UsageError{Flag: f.Name, Problem: ValueProblem(f.Value.Type(), invalid.GetValue()), Err: err}
	case errors.As(err, &syntax):
		return &UsageError{Problem: fmt.Sprintf("%q is not a flag: flags are written --name=value", syntax.GetSpecifiedFlag()), Err: err}
	}
	return &UsageError{Problem: err.Error(), Err: err}
}

// ValueProblem says, as a sentence, why value does not parse as typ, a pflag
// type name ("duration", "int", "bool", "float64", "stringToString" ...):
// `"soon" is not a duration; write it with a unit, like 500ms, 2s or 1m`.
// Values of key=value types are not shown: their entries may hold secrets.
func ValueProblem(typ, value string) string {
	switch {
	case typ == "duration":
		return fmt.Sprintf("%q is not a duration; write it with a unit, like 500ms, 2s or 1m", value)
	case strings.HasPrefix(typ, "int") || strings.HasPrefix(typ, "uint"):
		return fmt.Sprintf("%q is not a whole number", value)
	case strings.HasPrefix(typ, "float"):
		return fmt.Sprintf("%q is not a number", value)
	case typ == "bool":
		return fmt.Sprintf("%q is neither true nor false", value)
	case typ == "stringToString" || strings.HasPrefix(typ, "key=value"):
		return "want key=value[,key=value...] (the value is not shown: it may hold a secret)"
	}
	return fmt.Sprintf("%q is not a valid %s", value, typ)
}
