package configload

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"tickcompact/internal/cli"
)

// convert turns raw, a key's value as viper holds it (a string from a flag or
// the environment, or what YAML made of it), into the type of the key's
// default def. Its errors are sentences about the value, for an *Error that
// names the key and the source.
func convert(def, raw any) (any, error) {
	switch def.(type) {
	case string:
		return toString(raw)
	case bool:
		return toBool(raw)
	case int:
		n, err := toInt(raw)
		if err == nil && (n < math.MinInt || n > math.MaxInt) {
			err = fmt.Errorf("%d is out of range", n)
		}
		return int(n), err
	case int64:
		return toInt(raw)
	case time.Duration:
		return toDuration(raw)
	case []string:
		return toStrings(raw)
	}
	return nil, fmt.Errorf("the default %v (%T) has a type configload does not handle", def, def)
}

var errNotSingle = errors.New("is a list or a map; give a single value")

func toString(raw any) (string, error) {
	switch v := raw.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool, int, int64, uint64, float64:
		return fmt.Sprint(v), nil
	}
	return "", errNotSingle
}

// toStrings reads a list: a YAML list of single values, or (from the
// environment and flags, or a YAML string) comma-separated values, each
// trimmed; an empty string or no value is an empty list.
func toStrings(raw any) ([]string, error) {
	out := []string{}
	switch v := raw.(type) {
	case nil:
		return out, nil
	case string:
		if strings.TrimSpace(v) == "" {
			return out, nil
		}
		for _, s := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(s))
		}
		return out, nil
	case []string:
		return append(out, v...), nil
	case []any:
		for _, item := range v {
			s, err := toString(item)
			if err != nil {
				return nil, errors.New("is a list holding a list or a map; give single values")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errors.New("is a map; give a list, or comma-separated values")
}

func toBool(raw any) (bool, error) {
	switch v := raw.(type) {
	case bool:
		return v, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return false, errors.New(cli.ValueProblem("bool", v))
		}
		return b, nil
	case nil:
		return false, errors.New("has no value; write true or false")
	case map[string]any, []any:
		return false, errNotSingle
	}
	return false, errors.New(cli.ValueProblem("bool", fmt.Sprint(raw)))
}

func toInt(raw any) (int64, error) {
	switch v := raw.(type) {
	case int:
		return int64(v), nil
	case int64:
		return v, nil
	case uint64:
		if v > math.MaxInt64 {
			return 0, fmt.Errorf("%d is out of range", v)
		}
		return int64(v), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%q is out of range", v)
		}
		if err != nil {
			return 0, errors.New(cli.ValueProblem("int", v))
		}
		return n, nil
	case nil:
		return 0, errors.New("has no value; write a whole number")
	case map[string]any, []any:
		return 0, errNotSingle
	}
	return 0, errors.New(cli.ValueProblem("int", fmt.Sprint(raw)))
}

func toDuration(raw any) (time.Duration, error) {
	switch v := raw.(type) {
	case time.Duration:
		return v, nil
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return 0, errors.New(cli.ValueProblem("duration", v))
		}
		return d, nil
	case int, int64, uint64, float64:
		// A bare number would silently mean nanoseconds.
		return 0, fmt.Errorf("%v has no unit; write it with one, like %vs or %vms", v, v, v)
	case nil:
		return 0, errors.New("has no value; write a duration, like 500ms, 2s or 1m")
	case map[string]any, []any:
		return 0, errNotSingle
	}
	return 0, errors.New(cli.ValueProblem("duration", fmt.Sprint(raw)))
}
