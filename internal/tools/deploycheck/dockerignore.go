package deploycheck

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
)

// Dockerignore is a parsed .dockerignore file.
type Dockerignore struct {
	patterns []ignorePattern
}

type ignorePattern struct {
	raw       string
	re        *regexp.Regexp
	exception bool // a "!" line: re-includes what it matches
}

// ParseDockerignore reads a .dockerignore file. Patterns follow Docker's
// rules: relative to the context root, "*" and "?" within one path element,
// "**" across any number of them, "!" re-includes, the last match wins, and a
// pattern matching a directory matches everything below it.
func ParseDockerignore(r io.Reader) (*Dockerignore, error) {
	var d Dockerignore
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := ignorePattern{raw: line}
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			p.exception, line = true, strings.TrimSpace(rest)
		}
		line = strings.TrimPrefix(path.Clean("/"+line), "/")
		re, err := globRegexp(line)
		if err != nil {
			return nil, fmt.Errorf(".dockerignore: %q: %w", p.raw, err)
		}
		p.re = re
		d.patterns = append(d.patterns, p)
	}
	return &d, scanner.Err()
}

// Excludes reports whether the file at the slash-separated path, relative to
// the context root, is left out of the build context.
func (d *Dockerignore) Excludes(file string) bool {
	file = strings.TrimPrefix(path.Clean("/"+file), "/")
	var candidates []string // the file and each directory above it
	for p := file; p != "." && p != ""; p = path.Dir(p) {
		candidates = append(candidates, p)
	}
	excluded := false
	for _, p := range d.patterns {
		for _, c := range candidates {
			if p.re.MatchString(c) {
				excluded = !p.exception
				break
			}
		}
	}
	return excluded
}

func globRegexp(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch {
		case c == '*' && i+1 < len(glob) && glob[i+1] == '*':
			i++
			if i+1 < len(glob) && glob[i+1] == '/' {
				i++
				b.WriteString("(?:.*/)?")
			} else {
				b.WriteString(".*")
			}
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			end := strings.IndexByte(glob[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unterminated [")
			}
			class := glob[i+1 : i+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += end
		case c == '\\' && i+1 < len(glob):
			i++
			b.WriteString(regexp.QuoteMeta(string(glob[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
