package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// Variable describes one environment variable that Config reads. The list
// comes from Config's struct tags by reflection, so it cannot drift from
// the struct; docs/config.md, Print and Validate are all built on it.
type Variable struct {
	// Name is the variable, e.g. SLINKERD_BALANCER.
	Name string
	// Field is the Go path of the field in Config, e.g. "Balancer.Kind".
	Field string
	// Group is the Go name of the group the field sits in, e.g.
	// "Balancer", or "" for a field of Config itself.
	Group string
	// StructType and GoField name the struct type that declares the field
	// and the field itself, e.g. "BalancerConfig" and "Kind": the doc
	// generator finds the field's doc comment with them.
	StructType, GoField string
	// Type is one of duration, int, float, bool, string or secret.
	Type string
	// Default is the envDefault literal; "" means the default is empty.
	Default string
	// Allowed describes the values Validate accepts, e.g.
	// "ewma, p2c, roundrobin" or "1s to 60s"; "" means any value of Type.
	Allowed string
	// Secret reports whether the value is redacted when printed.
	Secret bool

	index []int // of the field in Config
	rank  int   // position in Variables
	rules rules
}

// rules are a field's validation rules, from its oneof, min, max and check
// tags.
type rules struct {
	oneof    []string
	min, max string
	check    string
}

var secretType = reflect.TypeFor[Secret]()

// Variables returns every variable that Config reads, in struct order
// (the order of the reference table, Print and JSON).
func Variables() []Variable { return slices.Clone(variables()) }

var variables = sync.OnceValue(func() []Variable {
	vars, err := walk(reflect.TypeFor[Config](), Prefix, "", nil)
	if err != nil {
		// Config's tags are fixed at compile time and covered by tests.
		panic("config: " + err.Error())
	}
	for i := range vars {
		vars[i].rank = i
	}
	return vars
})

// variableIndex maps each variable name to its Variable.
var variableIndex = sync.OnceValue(func() map[string]*Variable {
	vars := variables()
	m := make(map[string]*Variable, len(vars))
	for i := range vars {
		m[vars[i].Name] = &vars[i]
	}
	return m
})

// walk lists the leaf fields of struct type t the way caarlos0/env reads
// them: a nested struct without an env tag adds its envPrefix tag to the
// prefix; every other exported field is one variable named prefix + env.
func walk(t reflect.Type, prefix, group string, index []int) ([]Variable, error) {
	var vars []Variable
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		idx := append(append([]int(nil), index...), i)
		if sf.Type.Kind() == reflect.Struct && sf.Tag.Get("env") == "" {
			g := sf.Name
			if group != "" {
				g = group + "." + sf.Name
			}
			sub, err := walk(sf.Type, prefix+sf.Tag.Get("envPrefix"), g, idx)
			if err != nil {
				return nil, err
			}
			vars = append(vars, sub...)
			continue
		}
		v, err := newVariable(t, sf, prefix, group, idx)
		if err != nil {
			return nil, err
		}
		vars = append(vars, v)
	}
	return vars, nil
}

func newVariable(t reflect.Type, sf reflect.StructField, prefix, group string, idx []int) (Variable, error) {
	name, opts, _ := strings.Cut(sf.Tag.Get("env"), ",")
	if name == "" || opts != "" {
		return Variable{}, fmt.Errorf("field %s.%s: want a plain env tag, got %q", t.Name(), sf.Name, sf.Tag.Get("env"))
	}
	field := sf.Name
	if group != "" {
		field = group + "." + sf.Name
	}
	v := Variable{
		Name:       prefix + name,
		Field:      field,
		Group:      group,
		StructType: t.Name(),
		GoField:    sf.Name,
		Type:       typeName(sf.Type),
		Default:    sf.Tag.Get("envDefault"),
		Secret:     sf.Type == secretType,
		index:      idx,
		rules: rules{
			min:   sf.Tag.Get("min"),
			max:   sf.Tag.Get("max"),
			check: sf.Tag.Get("check"),
		},
	}
	if v.Type == "" {
		return Variable{}, fmt.Errorf("field %s.%s: unsupported type %s", t.Name(), sf.Name, sf.Type)
	}
	if o := sf.Tag.Get("oneof"); o != "" {
		v.rules.oneof = strings.Fields(o)
	}
	allowed, err := v.rules.describe(v.Type)
	if err != nil {
		return Variable{}, fmt.Errorf("field %s.%s: %w", t.Name(), sf.Name, err)
	}
	v.Allowed = allowed
	return v, nil
}

// typeName is the Variable.Type of a Go type, or "" if Config cannot hold
// it. Every type named here has a parser in loader.funcMap (strings need
// none).
func typeName(t reflect.Type) string {
	switch {
	case t == secretType:
		return "secret"
	case t == reflect.TypeFor[time.Duration]():
		return "duration"
	case t == reflect.TypeFor[bool]():
		return "bool"
	case t == reflect.TypeFor[int]() || t == reflect.TypeFor[int64]():
		return "int"
	case t == reflect.TypeFor[float64]():
		return "float"
	case t.Kind() == reflect.String:
		// Strings (named or not) cannot fail to parse.
		return "string"
	}
	return ""
}

// value returns the field of c that v describes.
func (v *Variable) value(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(v.index)
}
