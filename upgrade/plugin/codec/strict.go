package codec

import (
	"errors"
	"fmt"
	"reflect"

	"google.golang.org/protobuf/proto"

	"github.com/graftrt/graft/internal/strictjson"
)

// strictJSON decodes data into v refusing unknown fields and missing ones,
// at every depth. The checks are the core module's (internal/strictjson),
// which the migration test kit (upgrade/upgradetest) decodes with too: a
// state it accepts offline is one this codec accepts.
func strictJSON(data []byte, v any) error {
	err := strictjson.Unmarshal(data, v)
	var se *strictjson.ShapeError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: %w", ErrShape, se.Err)
	}
	return err
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
