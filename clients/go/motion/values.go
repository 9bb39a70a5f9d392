package motion

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"
)

// ToValue encodes v as a google.protobuf.Value. It accepts what encoding/json
// can marshal (nil, bools, numbers, strings, slices, arrays, maps with string
// keys, structs with their json tags, json.Marshaler) and refuses the rest
// (channels, funcs, complex numbers, NaN and infinities, strings and map keys
// that are not valid UTF-8) with an
// InvalidArgument *Error of reason INVALID_ARGUMENT, before anything is sent.
// what names the value in the error ("props", "patch"...).
func ToValue(what string, v any) (*structpb.Value, error) {
	value, err := toValue(what, ReasonInvalidArgument, v)
	if err != nil {
		return nil, err
	}
	return value, nil
}

// toValue is ToValue, its refusals of the given reason.
func toValue(what, reason string, v any) (*structpb.Value, *Error) {
	if err := checkFinite(what, reason, reflect.ValueOf(v), 0); err != nil {
		return nil, err
	}
	encoded, err := json.Marshal(v)
	if err != nil {
		return nil, invalid(what, reason, err)
	}
	var plain any
	if err := json.Unmarshal(encoded, &plain); err != nil {
		return nil, invalid(what, reason, err)
	}
	value, err := structpb.NewValue(plain)
	if err != nil {
		return nil, invalid(what, reason, err)
	}
	return value, nil
}

// toObject encodes props, patches and init params: a map or a struct (a
// JSON object); nil is an empty Struct. Its refusals have the reason a
// server gives the same value: INVALID_PROPS for props, INVALID_ARGUMENT
// otherwise (as the Python client's do).
func toObject(what, reason string, v any) (*structpb.Struct, error) {
	value, err := toValue(what, reason, v)
	if err != nil {
		return nil, err
	}
	if _, null := value.GetKind().(*structpb.Value_NullValue); null {
		return &structpb.Struct{}, nil
	}
	if value.GetStructValue() == nil {
		return nil, invalid(what, reason, fmt.Errorf("a %T is not a JSON object", v))
	}
	return value.GetStructValue(), nil
}

// checkFinite finds NaN and infinities, which JSON (hence a Value sent to a
// Python server) cannot carry, and names where they are. Past maxCheckDepth
// it leaves the rest to encoding/json, which also catches cycles.
func checkFinite(path, reason string, v reflect.Value, depth int) *Error {
	if depth > maxCheckDepth {
		return nil
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return invalid(path, reason, fmt.Errorf("%v is not a JSON number", f))
		}
	case reflect.String:
		if !utf8.ValidString(v.String()) { // encoding/json would send U+FFFD in its place
			return invalid(path, reason, fmt.Errorf("%q is not valid UTF-8", v.String()))
		}
	case reflect.Chan, reflect.Func, reflect.Complex64, reflect.Complex128, reflect.UnsafePointer:
		return invalid(path, reason, fmt.Errorf("a %s has no JSON form", v.Type()))
	case reflect.Interface, reflect.Pointer:
		if !v.IsNil() {
			return checkFinite(path, reason, v.Elem(), depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := checkFinite(fmt.Sprintf("%s[%d]", path, i), reason, v.Index(i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if key := it.Key(); key.Kind() == reflect.String && !utf8.ValidString(key.String()) {
				return invalid(path, reason, fmt.Errorf("the key %q is not valid UTF-8", key.String()))
			}
			if err := checkFinite(fmt.Sprintf("%s[%v]", path, it.Key()), reason, it.Value(), depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

const maxCheckDepth = 64

// invalid is the client's refusal of a value, with the reason a server would
// give it (ReasonInvalidProps for props, ReasonInvalidArgument otherwise).
func invalid(what, reason string, err error) *Error {
	return &Error{
		Code:    codes.InvalidArgument,
		Message: fmt.Sprintf("motion: cannot send %s: %v", what, err),
		Reason:  reason,
		Domain:  ErrorDomain,
	}
}
