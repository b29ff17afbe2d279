// Package strictjson decodes JSON into a Go type that must describe it
// exactly: a field of the value that the type lacks, or a field of the
// type that the value lacks, is an error. It is how an encoded state is
// decoded strictly (actor.StrictDecoder) wherever one is JSON: a plugin
// version's (upgrade/plugin/codec's Raw) and the states the migration test
// kit (upgrade/upgradetest) encodes the way a plugin version holds them.
// Both decode through this one function, so the test kit refuses exactly
// what the plugin host refuses.
//
// The package uses the standard library only: the core module imports it,
// and the plugin module imports it from there.
package strictjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// ShapeError reports a value whose fields are not the fields of the type
// it is decoded into, or that does not decode into it at all.
type ShapeError struct{ Err error }

func (e *ShapeError) Error() string { return e.Err.Error() }
func (e *ShapeError) Unwrap() error { return e.Err }

// Unmarshal decodes data into v, a pointer, as json.Unmarshal does, but
// refuses unknown fields (the decoder's own check, at every depth) and
// missing ones (every field of a struct without omitempty or omitzero
// must be present, at every depth; a type that implements
// json.Unmarshaler checks itself). Errors of the first value's decoding
// and missing fields are *ShapeError; data that goes on after the first
// value is json's own syntax error.
func Unmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &ShapeError{err}
	}
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if path := missing(reflect.TypeOf(v), raw, ""); path != "" {
		return &ShapeError{fmt.Errorf("field %s is missing", path)}
	}
	return nil
}

// missing returns the path of the first field of t that the decoded JSON
// value raw lacks, or "".
func missing(t reflect.Type, raw any, path string) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || raw == nil {
		return ""
	}
	if t.Implements(reflect.TypeFor[json.Unmarshaler]()) || reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return "" // decodes itself
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			return ""
		}
		return missingFields(t, obj, path)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "" // []byte is a base64 string
		}
		arr, _ := raw.([]any)
		for i, e := range arr {
			if p := missing(t.Elem(), e, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	case reflect.Map:
		obj, _ := raw.(map[string]any)
		for k, e := range obj {
			if p := missing(t.Elem(), e, path+"."+k); p != "" {
				return p
			}
		}
	}
	return ""
}

func missingFields(t reflect.Type, obj map[string]any, path string) string {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			if p := missingFields(f.Type, obj, path); p != "" {
				return p // embedded: its fields are promoted
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		val, ok := lookup(obj, name)
		if !ok {
			if strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,") {
				continue
			}
			return path + "." + name
		}
		if p := missing(f.Type, val, path+"."+name); p != "" {
			return p
		}
	}
	return ""
}

// lookup finds a key as encoding/json matches it: exactly, else ignoring
// case.
func lookup(obj map[string]any, name string) (any, bool) {
	if v, ok := obj[name]; ok {
		return v, true
	}
	for k, v := range obj {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}
