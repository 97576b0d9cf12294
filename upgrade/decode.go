package upgrade

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// decodeStrict decodes YAML or JSON into out (a pointer to a struct),
// refusing unknown fields and malformed values with errors that name the
// field path under root.
func decodeStrict(data []byte, root *field.Path, out any) field.ErrorList {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return field.ErrorList{field.Invalid(root, "", "not YAML or JSON: "+err.Error())}
	}
	return decodeValue(bytes.TrimSpace(j), root, reflect.ValueOf(out).Elem())
}

var unmarshalerType = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

func decodeValue(raw []byte, p *field.Path, v reflect.Value) field.ErrorList {
	if string(raw) == "null" || len(raw) == 0 {
		return nil
	}
	t := v.Type()
	structLike := t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(unmarshalerType)
	switch {
	case structLike:
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return field.ErrorList{field.Invalid(p, string(raw), "must be a mapping")}
		}
		fields := jsonFields(t)
		var errs field.ErrorList
		for _, k := range sortedKeys(m) {
			idx, ok := fields[k]
			if !ok {
				errs = append(errs, field.Forbidden(p.Child(k), "unknown field"))
				continue
			}
			errs = append(errs, decodeValue(m[k], p.Child(k), v.Field(idx))...)
		}
		return errs
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct && !reflect.PointerTo(t.Elem()).Implements(unmarshalerType):
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return field.ErrorList{field.Invalid(p, string(raw), "must be a list")}
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		var errs field.ErrorList
		for i, it := range items {
			errs = append(errs, decodeValue(it, p.Index(i), s.Index(i))...)
		}
		v.Set(s)
		return errs
	}
	if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
		return field.ErrorList{field.Invalid(p, strings.Trim(string(raw), `"`), cleanDecodeError(err))}
	}
	return nil
}

func cleanDecodeError(err error) string {
	var te *json.UnmarshalTypeError
	if ok := asTypeError(err, &te); ok {
		return fmt.Sprintf("must be %s", kindName(te.Type))
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return msg
}

func asTypeError(err error, te **json.UnmarshalTypeError) bool {
	t, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*te = t
	}
	return ok
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.String()
}

// jsonFields maps the JSON names of t's fields to their positions,
// following embedded structs is not needed by our types.
func jsonFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		m[name] = i
	}
	return m
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
