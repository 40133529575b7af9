package config

import (
	"errors"
	"reflect"
	"strings"

	"github.com/go-viper/mapstructure/v2"
)

// hookError carries a message written by this package. Only such messages
// are shown as they are: mapstructure's own may quote the offending value,
// and that value may be a secret.
type hookError struct{ msg string }

func (e hookError) Error() string { return e.msg }

var (
	stringListType = reflect.TypeFor[StringList]()
	subjectType    = reflect.TypeFor[[][]string]()
)

// stringListHook lets a list-valued rule criterion be written as one string:
// "domain: example.com" is "domain: [example.com]".
func stringListHook(_, to reflect.Type, data any) (any, error) {
	if to != stringListType {
		return data, nil
	}
	if s, ok := data.(string); ok {
		return []any{s}, nil
	}
	return data, nil
}

// subjectHook accepts Authelia's subject forms: one string, or a list whose
// items are a string (a group of one) or a list (all must hold).
func subjectHook(_, to reflect.Type, data any) (any, error) {
	if to != subjectType {
		return data, nil
	}
	switch x := data.(type) {
	case string:
		return []any{[]any{x}}, nil
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			if s, ok := item.(string); ok {
				out[i] = []any{s}
			} else {
				out[i] = item
			}
		}
		return out, nil
	}
	return data, nil
}

// decode decodes the merged layers onto out. out starts from Default(), so
// a key that fails to decode keeps its default and does not set off a second,
// misleading problem in Validate (an expiration of 0, say).
func decode(raw map[string]any, out *Config) []error {
	d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			durationHook, stringListHook, subjectHook),
		// "port: '6379'" and every GATE_* variable arrive as strings.
		WeaklyTypedInput: true,
		TagName:          "koanf",
		Result:           out,
	})
	if err != nil {
		return []error{err}
	}
	allocSections(raw, reflect.ValueOf(out).Elem())
	return decodeProblems(d.Decode(raw))
}

// allocSections allocates the optional sections present in raw before
// decoding. mapstructure drops a newly allocated section whole when one of
// its keys fails, and Validate would then miss every other problem in it.
func allocSections(raw map[string]any, v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("koanf")
		sub, ok := raw[name].(map[string]any)
		if !ok {
			continue
		}
		f := v.Field(i)
		switch {
		case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Struct:
			if f.IsNil() {
				f.Set(reflect.New(f.Type().Elem()))
			}
			allocSections(sub, f.Elem())
		case f.Kind() == reflect.Struct:
			allocSections(sub, f)
		}
	}
}

// decodeProblems turns mapstructure's error tree into one Problem per key.
func decodeProblems(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case nil:
		case interface{ Unwrap() []error }:
			for _, c := range x.Unwrap() {
				walk(c)
			}
		case *mapstructure.DecodeError:
			var inner *mapstructure.DecodeError
			if errors.As(x.Unwrap(), &inner) {
				walk(x.Unwrap())
				return
			}
			out = append(out, &Problem{Key: x.Name(), Msg: describe(x.Name(), x.Unwrap())})
		default:
			if u := errors.Unwrap(e); u != nil {
				walk(u)
				return
			}
			out = append(out, &Problem{Msg: "configuration cannot be decoded"})
		}
	}
	walk(err)
	return out
}

func describe(key string, err error) string {
	var he hookError
	var ute *mapstructure.UnconvertibleTypeError
	var pe *mapstructure.ParseError
	switch {
	case errors.As(err, &he):
		return he.msg
	case errors.As(err, &ute):
		return "must be " + expected(ute.Expected.Type()) + ", not " + shape(ute.Value)
	case errors.As(err, &pe):
		return "must be " + expected(pe.Expected.Type())
	}
	if t := typeAt(key); t != nil {
		return "must be " + expected(t)
	}
	return "has the wrong type"
}

// typeAt finds the type of a key path such as access_control.rules[0], for
// the decoder errors that do not carry it.
func typeAt(key string) reflect.Type {
	t := reflect.TypeFor[Config]()
	for part := range strings.SplitSeq(key, ".") {
		name, index, _ := strings.Cut(part, "[")
		st, ok := section(t)
		if !ok {
			return nil
		}
		f, ok := fieldsOf(st)[name]
		if !ok {
			return nil
		}
		t = f.Type
		for ; index != ""; _, index, _ = strings.Cut(index, "[") {
			if t.Kind() != reflect.Slice {
				return nil
			}
			t = t.Elem()
		}
	}
	return t
}

func expected(t reflect.Type) string {
	switch t {
	case stringListType, reflect.TypeFor[[]string]():
		return "a string or a list of strings"
	case subjectType:
		return "a list of subjects"
	case durationType:
		return "a duration"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "a mapping of keys"
	case reflect.Slice:
		return "a list"
	}
	return "of another type"
}

// shape names what was given without showing it.
func shape(v any) string {
	switch v.(type) {
	case nil:
		return "empty"
	case string:
		return "a string"
	case bool:
		return "true/false"
	case int, int64, int32, uint64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return "a " + reflect.TypeOf(v).Kind().String()
}
