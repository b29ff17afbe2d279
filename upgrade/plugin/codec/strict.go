package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"google.golang.org/protobuf/proto"
)

// strictJSON decodes data into v refusing unknown fields (the decoder's
// own check, at every depth) and missing ones (checked here: every field
// of a struct without omitempty must be present, at every depth).
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrShape, err)
	}
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if path := missing(reflect.TypeOf(v), raw, ""); path != "" {
		return fmt.Errorf("%w: field %s is missing", ErrShape, path)
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

// strictProto refuses a decoded message that kept unknown fields.
func strictProto(v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer && !rv.IsNil() {
			m, ok = rv.Elem().Interface().(proto.Message)
		}
	}
	if !ok || m == nil {
		return nil
	}
	if len(m.ProtoReflect().GetUnknown()) > 0 {
		return fmt.Errorf("%w: %d bytes of fields %s does not declare", ErrShape, len(m.ProtoReflect().GetUnknown()), m.ProtoReflect().Descriptor().FullName())
	}
	return nil
}
