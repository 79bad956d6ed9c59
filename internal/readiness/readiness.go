// Package readiness is a service's /readyz state: a list of named conditions,
// each met or failing with one reason, set by the goroutines that know (the
// Kafka client monitor, the consume loop, the Redis writer) and read by the
// HTTP handler.
//
// Conditions are of two sorts. A dependency (kafka, redis) is something
// outside the service that must be reachable; every failing dependency is
// reported, each with its own reason. A progress condition (partitions
// assigned, transactions initialized) is the service's own state; while a
// dependency fails, progress conditions are not reported, since they fail
// because of it, and otherwise the failing ones are. So /readyz gives one
// reason per missing dependency, and never a consequence in its place.
package readiness

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
)

// State is one service's readiness.
type State struct {
	mu         sync.Mutex
	conditions []*Condition
	redact     *strings.Replacer
}

// New returns a State with no condition (ready). Every non-empty string in
// secrets is masked in the reasons: they are served over HTTP, and a client
// library's error text may quote a credential.
func New(secrets []string) *State {
	var pairs []string
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, "[REDACTED]")
		}
	}
	return &State{redact: strings.NewReplacer(pairs...)}
}

// Dependency adds a dependency condition called name (kafka, redis), failing
// with reason until it is met.
func (s *State) Dependency(name, reason string) *Condition {
	return s.add(name, reason, true)
}

// Condition adds a progress condition called name, failing with reason until
// it is met.
func (s *State) Condition(name, reason string) *Condition {
	return s.add(name, reason, false)
}

func (s *State) add(name, reason string, dependency bool) *Condition {
	c := &Condition{name: name, dependency: dependency, redact: s.redact}
	c.Fail(reason)
	s.mu.Lock()
	s.conditions = append(s.conditions, c)
	s.mu.Unlock()
	return c
}

// Check returns nil when every condition is met. Otherwise its error lists
// the failing dependencies, or when none fails the failing progress
// conditions, in the order they were added, as "name: reason; name: reason".
func (s *State) Check() error {
	s.mu.Lock()
	conditions := s.conditions
	s.mu.Unlock()
	var dependencies, progress []string
	for _, c := range conditions {
		reason := c.Reason()
		if reason == "" {
			continue
		}
		if c.dependency {
			dependencies = append(dependencies, c.name+": "+reason)
		} else {
			progress = append(progress, c.name+": "+reason)
		}
	}
	switch {
	case len(dependencies) > 0:
		return errors.New(strings.Join(dependencies, "; "))
	case len(progress) > 0:
		return errors.New(strings.Join(progress, "; "))
	}
	return nil
}

// Condition is one named condition of a State. Its methods are safe for
// concurrent use, and Met is cheap when the condition is met already, so a
// consume loop may call it for every record.
type Condition struct {
	name       string
	dependency bool
	redact     *strings.Replacer
	// reason is nil while the condition is met.
	reason atomic.Pointer[string]
}

// Fail marks the condition failing with reason, which says what is wrong in
// words an operator acts on ("brokers unreachable: ..."). An empty reason
// reads as "failing".
func (c *Condition) Fail(reason string) {
	if reason == "" {
		reason = "failing"
	}
	reason = c.redact.Replace(reason)
	c.reason.Store(&reason)
}

// Met marks the condition met.
func (c *Condition) Met() {
	if c.reason.Load() != nil {
		c.reason.Store(nil)
	}
}

// Set marks the condition met when ok, failing with reason otherwise.
func (c *Condition) Set(ok bool, reason string) {
	if ok {
		c.Met()
		return
	}
	c.Fail(reason)
}

// Reason returns why the condition fails, or "" when it is met.
func (c *Condition) Reason() string {
	if r := c.reason.Load(); r != nil {
		return *r
	}
	return ""
}
