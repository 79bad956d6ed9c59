package configload

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// rawValue is a key's flag: it keeps the text given on the command line, to
// be parsed with the values of the file and the environment (so that a bad
// value reads the same whatever its source), while telling --help its type.
type rawValue struct {
	typ   string
	value string
}

func (r *rawValue) String() string     { return r.value }
func (r *rawValue) Set(s string) error { r.value = s; return nil }
func (r *rawValue) Type() string       { return r.typ }

// IsBoolFlag lets a bool key be given as a bare --input.repartition.
func (r *rawValue) IsBoolFlag() bool { return r.typ == "bool" }

// mapValue is a map key's flag: pflag's key=value list under a type name
// that reads well in --help.
type mapValue struct{ pflag.Value }

func (mapValue) Type() string { return "key=value,..." }

// typeName is the type --help shows for a key with default d.
func typeName(d any) string {
	switch d.(type) {
	case bool:
		return "bool"
	case int, int64:
		return "int"
	case time.Duration:
		return "duration"
	case []string:
		return "strings"
	}
	return "string"
}

// newFlagSet declares --config and one flag per key, in spec order. It returns
// the map keys' entries as set on the command line.
func newFlagSet(spec Spec) (*pflag.FlagSet, map[string]*map[string]string) {
	flags := pflag.NewFlagSet(spec.Service, pflag.ContinueOnError)
	flags.String("config", "", "path of the YAML config file (default configs/"+spec.Service+".yaml when it exists)")
	mapFlags := map[string]*map[string]string{}
	for _, k := range spec.Keys {
		if _, isMap := k.Default.(map[string]string); isMap {
			entries := map[string]string{}
			flags.StringToStringVar(&entries, k.Name, nil, k.Usage)
			f := flags.Lookup(k.Name)
			f.Value = mapValue{f.Value}
			f.DefValue = FormatDefault(k.Default)
			mapFlags[k.Name] = &entries
			continue
		}
		def := FormatDefault(k.Default)
		flags.Var(&rawValue{typ: typeName(k.Default), value: def}, k.Name, k.Usage)
	}
	return flags, mapFlags
}

// flagSource names a flag as a value's source.
func flagSource(name string) string { return fmt.Sprintf("flag --%s", name) }
