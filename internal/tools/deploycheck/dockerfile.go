package deploycheck

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
)

// Dockerfile is a parsed Dockerfile: its build stages, in order.
//
// The parser knows the subset of the syntax this repository uses: comments,
// line continuations with the default escape character, leading --flags, and
// exec (JSON) or shell forms. It does not expand ARG variables; an instruction
// that uses one is kept verbatim, so checks on it fail rather than guess.
type Dockerfile struct {
	Stages []*Stage
}

// Stage is one FROM and the instructions up to the next FROM.
type Stage struct {
	// Name is the AS name, lower-cased; empty when the stage has none.
	Name string
	// Base is the FROM image reference, or the name of an earlier stage.
	Base string
	// Line is where the FROM is.
	Line int
	// Instructions are the stage's instructions after its FROM.
	Instructions []Instruction
}

// Instruction is one logical line of a Dockerfile.
type Instruction struct {
	// Line is the 1-based line the instruction starts on.
	Line int
	// Command is the instruction, upper-cased: RUN, COPY, ENV ...
	Command string
	// Flags are the leading --name=value options (RUN --mount=..., COPY
	// --from=...), in order; a flag without "=" has an empty value.
	Flags []Flag
	// Args is the rest of the line, continuation lines joined by spaces.
	Args string
}

// Flag is one --name=value option of an instruction.
type Flag struct {
	Name, Value string
}

// Flag returns the value of the named flag and whether it is present.
func (in Instruction) Flag(name string) (string, bool) {
	for _, f := range in.Flags {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// ExecForm returns Args as a list when it is in exec (JSON array) form.
func (in Instruction) ExecForm() ([]string, bool) {
	if !strings.HasPrefix(in.Args, "[") {
		return nil, false
	}
	var list []string
	if err := json.Unmarshal([]byte(in.Args), &list); err != nil {
		return nil, false
	}
	return list, true
}

// ParseDockerfile reads a Dockerfile.
func ParseDockerfile(r io.Reader) (*Dockerfile, error) {
	lines, err := logicalLines(r)
	if err != nil {
		return nil, err
	}
	df := &Dockerfile{}
	var current *Stage
	for _, l := range lines {
		command, rest, _ := strings.Cut(l.text, " ")
		in := Instruction{Line: l.number, Command: strings.ToUpper(command)}
		in.Flags, in.Args = leadingFlags(strings.TrimSpace(rest))
		if in.Command == "FROM" {
			fields := strings.Fields(in.Args)
			stage := &Stage{Line: l.number}
			switch {
			case len(fields) == 1:
				stage.Base = fields[0]
			case len(fields) == 3 && strings.EqualFold(fields[1], "AS"):
				stage.Base, stage.Name = fields[0], strings.ToLower(fields[2])
			default:
				return nil, fmt.Errorf("line %d: FROM %s: want IMAGE [AS NAME]", l.number, in.Args)
			}
			if df.Stage(stage.Name) != nil && stage.Name != "" {
				return nil, fmt.Errorf("line %d: stage %q defined twice", l.number, stage.Name)
			}
			df.Stages = append(df.Stages, stage)
			current = stage
			continue
		}
		if current == nil {
			if in.Command == "ARG" { // global ARGs may precede the first FROM
				continue
			}
			return nil, fmt.Errorf("line %d: %s before the first FROM", l.number, in.Command)
		}
		current.Instructions = append(current.Instructions, in)
	}
	if len(df.Stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	return df, nil
}

type logicalLine struct {
	number int
	text   string
}

// logicalLines drops comments and blank lines and joins continuation lines,
// as Docker does (a comment line inside a continued instruction is dropped).
func logicalLines(r io.Reader) ([]logicalLine, error) {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var (
		out     []logicalLine
		pending []string
		start   int
	)
	for n := 1; scanner.Scan(); n++ {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(pending) == 0 {
			start = n
		}
		if strings.HasSuffix(line, `\`) {
			pending = append(pending, strings.TrimSpace(strings.TrimSuffix(line, `\`)))
			continue
		}
		pending = append(pending, line)
		out = append(out, logicalLine{number: start, text: strings.Join(pending, " ")})
		pending = nil
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if len(pending) > 0 {
		return nil, fmt.Errorf("line %d: continuation at end of file", start)
	}
	return out, nil
}

func leadingFlags(args string) ([]Flag, string) {
	var flags []Flag
	for strings.HasPrefix(args, "--") {
		token, rest, _ := strings.Cut(args, " ")
		name, value, _ := strings.Cut(strings.TrimPrefix(token, "--"), "=")
		flags = append(flags, Flag{Name: name, Value: value})
		args = strings.TrimSpace(rest)
	}
	return flags, args
}

// Stage returns the stage named name (case-insensitive), or nil.
func (d *Dockerfile) Stage(name string) *Stage {
	for _, s := range d.Stages {
		if s.Name != "" && s.Name == strings.ToLower(name) {
			return s
		}
	}
	return nil
}

// Image is what a build target ends up as: the state after every instruction
// of its stage and of the stages it is built FROM.
type Image struct {
	// Target is the stage the image is built from.
	Target string
	// Base is the external image at the root of the FROM chain.
	Base string
	// Env holds the ENV variables in effect.
	Env map[string]string
	// User is the last USER, or "" when none is set in the Dockerfile.
	User string
	// WorkDir is the last WORKDIR ("/" when none is set).
	WorkDir string
	// Exposed lists the EXPOSEd ports as written (9101, 9101/tcp).
	Exposed []string
	// Healthcheck is the last HEALTHCHECK, or nil when none is set.
	Healthcheck *Healthcheck
	// Entrypoint is the last ENTRYPOINT; shell form becomes /bin/sh -c.
	Entrypoint []string
	// Copies are the COPY and ADD instructions, destinations made absolute.
	Copies []Copy
	// Builds are the go build commands of the target stage itself (not of
	// the stages it is built FROM).
	Builds []GoBuild
}

// Healthcheck is a HEALTHCHECK instruction.
type Healthcheck struct {
	// None is true for HEALTHCHECK NONE.
	None bool
	// Test is the command, exec form; shell form becomes /bin/sh -c.
	Test []string
	// Options are the --interval, --timeout ... flags.
	Options []Flag
}

// Copy is a COPY or ADD.
type Copy struct {
	// From is the --from stage or image; "" copies from the build context.
	From string
	// Sources are the source paths as written.
	Sources []string
	// Dest is the absolute destination; it ends in "/" when written so.
	Dest string
}

// Target returns the path a source ends up at in the image.
func (c Copy) Target(source string) string {
	if strings.HasSuffix(c.Dest, "/") || len(c.Sources) > 1 {
		return path.Join(c.Dest, path.Base(source))
	}
	return c.Dest
}

// Resolve walks the FROM chain of the stage named target and returns the
// resulting image.
func (d *Dockerfile) Resolve(target string) (*Image, error) {
	var chain []*Stage
	for name := target; ; {
		stage := d.Stage(name)
		if stage == nil {
			if len(chain) == 0 {
				return nil, fmt.Errorf("no stage %q", target)
			}
			break // an external image
		}
		for _, s := range chain {
			if s == stage {
				return nil, fmt.Errorf("stage %q: FROM cycle", target)
			}
		}
		chain = append([]*Stage{stage}, chain...)
		name = stage.Base
	}
	img := &Image{Target: strings.ToLower(target), Base: chain[0].Base, Env: map[string]string{}, WorkDir: "/"}
	for _, stage := range chain {
		for _, in := range stage.Instructions {
			if err := img.apply(stage, in); err != nil {
				return nil, fmt.Errorf("line %d: %s: %w", in.Line, in.Command, err)
			}
		}
	}
	return img, nil
}

func (img *Image) apply(stage *Stage, in Instruction) error {
	switch in.Command {
	case "ENV":
		return parseEnv(in.Args, img.Env)
	case "USER":
		img.User = in.Args
	case "WORKDIR":
		img.WorkDir = img.abs(in.Args)
	case "EXPOSE":
		img.Exposed = append(img.Exposed, strings.Fields(in.Args)...)
	case "ENTRYPOINT":
		img.Entrypoint = command(in)
	case "HEALTHCHECK":
		if strings.EqualFold(in.Args, "NONE") {
			img.Healthcheck = &Healthcheck{None: true}
			return nil
		}
		rest, ok := strings.CutPrefix(in.Args, "CMD ")
		if !ok {
			return fmt.Errorf("want NONE or [OPTIONS] CMD ...")
		}
		test := command(Instruction{Args: strings.TrimSpace(rest)})
		img.Healthcheck = &Healthcheck{Test: test, Options: in.Flags}
	case "COPY", "ADD":
		list, ok := in.ExecForm()
		if !ok {
			list = strings.Fields(in.Args)
		}
		if len(list) < 2 {
			return fmt.Errorf("want SOURCE... DEST")
		}
		from, _ := in.Flag("from")
		dest := img.abs(list[len(list)-1])
		if strings.HasSuffix(list[len(list)-1], "/") && !strings.HasSuffix(dest, "/") {
			dest += "/"
		}
		img.Copies = append(img.Copies, Copy{From: strings.ToLower(from), Sources: list[:len(list)-1], Dest: dest})
	case "RUN":
		if img.Target != stage.Name {
			return nil
		}
		builds, err := goBuilds(in, img.Env)
		if err != nil {
			return err
		}
		img.Builds = append(img.Builds, builds...)
	}
	return nil
}

func (img *Image) abs(p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(img.WorkDir, p)
}

func command(in Instruction) []string {
	if list, ok := in.ExecForm(); ok {
		return list
	}
	return []string{"/bin/sh", "-c", in.Args}
}

// parseEnv reads ENV k=v [k2=v2 ...] or the legacy ENV k v into env.
func parseEnv(args string, env map[string]string) error {
	words, err := shellWords(args)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return fmt.Errorf("empty ENV")
	}
	if !strings.Contains(words[0], "=") { // legacy form: ENV NAME the rest
		name, value, _ := strings.Cut(args, " ")
		env[name] = strings.TrimSpace(value)
		return nil
	}
	for _, w := range words {
		name, value, ok := strings.Cut(w, "=")
		if !ok {
			return fmt.Errorf("%q: want NAME=VALUE", w)
		}
		env[name] = value
	}
	return nil
}

// GoBuild is one `go build` found in a RUN instruction.
type GoBuild struct {
	// Line is the RUN's line.
	Line int
	// Env is the environment the command runs with: the image's ENV
	// overlaid with NAME=value assignments in front of the command.
	Env map[string]string
	// Output is the -o value.
	Output string
	// Packages are the package arguments (./cmd/aggregator).
	Packages []string
	// Tags are the -tags values.
	Tags []string
	// Flags are the other flags as written (-trimpath, -ldflags=-s).
	Flags []string
}

// goBuildValueFlags are the go build flags that take a value.
var goBuildValueFlags = map[string]bool{
	"o": true, "tags": true, "ldflags": true, "gcflags": true, "asmflags": true, "mod": true, "p": true,
	"pkgdir": true, "buildmode": true, "compiler": true, "installsuffix": true, "modfile": true,
	"overlay": true, "pgo": true, "C": true, "toolexec": true, "gccgoflags": true, "covermode": true, "coverpkg": true,
}

// goBuilds finds the go build commands in a RUN's shell command: commands
// separated by &&, ||, ;, | or newlines, with leading NAME=value assignments.
func goBuilds(in Instruction, env map[string]string) ([]GoBuild, error) {
	if _, exec := in.ExecForm(); exec {
		return nil, nil
	}
	commands, err := shellCommands(in.Args)
	if err != nil {
		return nil, err
	}
	var builds []GoBuild
	for _, words := range commands {
		build := GoBuild{Line: in.Line, Env: map[string]string{}}
		for k, v := range env {
			build.Env[k] = v
		}
		for len(words) > 0 && isAssignment(words[0]) {
			name, value, _ := strings.Cut(words[0], "=")
			build.Env[name] = value
			words = words[1:]
		}
		if len(words) < 2 || words[0] != "go" || words[1] != "build" {
			continue
		}
		for i := 2; i < len(words); i++ {
			w := words[i]
			if !strings.HasPrefix(w, "-") {
				build.Packages = append(build.Packages, w)
				continue
			}
			name, value, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
			if goBuildValueFlags[name] && !hasValue {
				if i+1 == len(words) {
					return nil, fmt.Errorf("go build %s: missing value", w)
				}
				i++
				value = words[i]
			}
			switch name {
			case "o":
				build.Output = value
			case "tags":
				build.Tags = append(build.Tags, strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' })...)
			default:
				if goBuildValueFlags[name] {
					build.Flags = append(build.Flags, "-"+name+"="+value)
				} else {
					build.Flags = append(build.Flags, w)
				}
			}
		}
		builds = append(builds, build)
	}
	return builds, nil
}

func isAssignment(word string) bool {
	name, _, ok := strings.Cut(word, "=")
	if !ok || name == "" {
		return false
	}
	for i, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// shellWords splits s into words, honouring single and double quotes and
// backslash escapes. It knows no operators.
func shellWords(s string) ([]string, error) {
	commands, err := shellCommands(s)
	if err != nil {
		return nil, err
	}
	var words []string
	for _, c := range commands {
		words = append(words, c...)
	}
	return words, nil
}

// shellCommands splits a shell command line into simple commands at &&, ||,
// ;, | and newlines outside quotes, each a list of words. Enough for the
// RUN lines of a Dockerfile; not a shell.
func shellCommands(s string) ([][]string, error) {
	var (
		commands [][]string
		words    []string
		word     strings.Builder
		inWord   bool
		quote    rune
	)
	endWord := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	endCommand := func() {
		endWord()
		if len(words) > 0 {
			commands = append(commands, words)
			words = nil
		}
	}
	runes := []rune(s)
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else if r == '\\' && quote == '"' && i+1 < len(runes) {
				i++
				word.WriteRune(runes[i])
			} else {
				word.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '\\' && i+1 < len(runes):
			i++
			word.WriteRune(runes[i])
			inWord = true
		case r == ' ' || r == '\t':
			endWord()
		case r == '\n' || r == ';':
			endCommand()
		case (r == '&' || r == '|') && i+1 < len(runes) && runes[i+1] == r:
			i++
			endCommand()
		case r == '|':
			endCommand()
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	endCommand()
	return commands, nil
}
