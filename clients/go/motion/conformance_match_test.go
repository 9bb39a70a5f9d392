package motion

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

var variable = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// substitute replaces "${name}" (any JSON type) and ${name} inside strings (its text).
func substitute(v any, vars map[string]any) (any, error) {
	switch v := v.(type) {
	case string:
		if m := variable.FindStringSubmatch(v); m != nil && m[0] == v {
			value, ok := vars[m[1]]
			if !ok {
				return nil, fmt.Errorf("unknown variable %s", m[1])
			}
			return value, nil
		}
		var unknown error
		out := variable.ReplaceAllStringFunc(v, func(ref string) string {
			value, ok := vars[ref[2:len(ref)-1]]
			if !ok {
				unknown = fmt.Errorf("unknown variable %s", ref)
			}
			if s, isString := value.(string); isString {
				return s
			}
			text, _ := json.Marshal(value)
			return string(text)
		})
		return out, unknown
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			var err error
			if out[i], err = substitute(item, vars); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for key, item := range v {
			var err error
			if out[key], err = substitute(item, vars); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

// lookup follows a dot-separated path; integer segments index lists.
func lookup(v any, path string) (any, bool) {
	for _, segment := range strings.Split(path, ".") {
		switch node := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = node[segment]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(segment)
			if err != nil || i < 0 || i >= len(node) {
				return nil, false
			}
			v = node[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func isDefault(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == "" || v == "0"
	case float64:
		return v == 0
	case bool:
		return !v
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}

// match applies the matching rules of conformance/README.md.
func match(expected, actual any, path string) error {
	fail := func(why string) error { return fmt.Errorf("%s: %s (got %v, want %v)", path, why, actual, expected) }
	switch want := expected.(type) {
	case string:
		switch {
		case want == "present" && isDefault(actual):
			return fail("missing")
		case want == "absent" && !isDefault(actual):
			return fail("present")
		case want != "present" && want != "absent" && actual != want:
			return fail("differs")
		}
		return nil
	case float64:
		if got, ok := number(actual); !ok || got != want {
			return fail("differs")
		}
		return nil
	case []any:
		got, ok := actual.([]any)
		if !ok || len(got) != len(want) {
			return fail("not a list of that length")
		}
		for i := range want {
			if err := match(want[i], got[i], fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		return matchObject(want, actual, path, fail)
	}
	if !reflect.DeepEqual(expected, actual) {
		return fail("differs")
	}
	return nil
}

func matchObject(want map[string]any, actual any, path string, fail func(string) error) error {
	if n, ok := want["$len"]; ok {
		length := -1
		switch got := actual.(type) {
		case []any:
			length = len(got)
		case string:
			length = len(got)
		}
		if float64(length) != n {
			return fail("length differs")
		}
		return nil
	}
	if items, ok := want["$contains"].([]any); ok {
		got, isList := actual.([]any)
		if !isList {
			return fail("not a list")
		}
		for _, item := range items {
			if !containsMatch(got, item) {
				return fail(fmt.Sprintf("nothing matches %v", item))
			}
		}
		return nil
	}
	if floor, ok := want["$gte"].(float64); ok {
		if got, isNumber := number(actual); !isNumber || got < floor {
			return fail("smaller")
		}
		return nil
	}
	if exact, ok := want["$exact"]; ok {
		if !equalJSON(exact, actual) {
			return fail("not exactly equal")
		}
		return nil
	}
	got, ok := actual.(map[string]any)
	if !ok {
		return fail("not an object")
	}
	for key, value := range want {
		if err := match(value, got[key], path+"."+key); err != nil {
			return err
		}
	}
	return nil
}

func containsMatch(list []any, want any) bool {
	for _, candidate := range list {
		if match(want, candidate, "") == nil {
			return true
		}
	}
	return false
}

// equalJSON compares plain JSON values, numbers by value.
func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	var u, v any
	_ = json.Unmarshal(x, &u)
	_ = json.Unmarshal(y, &v)
	return reflect.DeepEqual(u, v)
}
