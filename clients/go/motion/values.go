package motion

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"
)

// ToValue encodes v as a google.protobuf.Value. It accepts what encoding/json
// can marshal (nil, bools, numbers, strings, slices, arrays, maps with string
// keys, structs with their json tags, json.Marshaler) and refuses the rest
// (channels, funcs, complex numbers, NaN and infinities) with an
// InvalidArgument *Error, before anything is sent. what names the value in
// the error ("props", "patch"...).
func ToValue(what string, v any) (*structpb.Value, error) {
	if err := checkFinite(what, reflect.ValueOf(v), 0); err != nil {
		return nil, err
	}
	encoded, err := json.Marshal(v)
	if err != nil {
		return nil, invalid(what, err)
	}
	var plain any
	if err := json.Unmarshal(encoded, &plain); err != nil {
		return nil, invalid(what, err)
	}
	value, err := structpb.NewValue(plain)
	if err != nil {
		return nil, invalid(what, err)
	}
	return value, nil
}

// toObject encodes props, patches and init params: a map or a struct (a
// JSON object); nil is an empty Struct.
func toObject(what string, v any) (*structpb.Struct, error) {
	value, err := ToValue(what, v)
	if err != nil {
		return nil, err
	}
	if _, null := value.GetKind().(*structpb.Value_NullValue); null {
		return &structpb.Struct{}, nil
	}
	if value.GetStructValue() == nil {
		return nil, invalid(what, fmt.Errorf("a %T is not a JSON object", v))
	}
	return value.GetStructValue(), nil
}

// checkFinite finds NaN and infinities, which JSON (hence a Value sent to a
// Python server) cannot carry, and names where they are. Past maxCheckDepth
// it leaves the rest to encoding/json, which also catches cycles.
func checkFinite(path string, v reflect.Value, depth int) error {
	if depth > maxCheckDepth {
		return nil
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return invalid(path, fmt.Errorf("%v is not a JSON number", f))
		}
	case reflect.Chan, reflect.Func, reflect.Complex64, reflect.Complex128, reflect.UnsafePointer:
		return invalid(path, fmt.Errorf("a %s has no JSON form", v.Type()))
	case reflect.Interface, reflect.Pointer:
		if !v.IsNil() {
			return checkFinite(path, v.Elem(), depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := checkFinite(fmt.Sprintf("%s[%d]", path, i), v.Index(i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if err := checkFinite(fmt.Sprintf("%s[%v]", path, it.Key()), it.Value(), depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

const maxCheckDepth = 64

func invalid(what string, err error) *Error {
	return &Error{Code: codes.InvalidArgument, Message: fmt.Sprintf("motion: cannot send %s: %v", what, err)}
}
