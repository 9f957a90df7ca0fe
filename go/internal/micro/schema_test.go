package micro

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// A JSON Schema validator for exactly the draft 2020-12 keywords
// schemas/micro.schema.json uses; an unknown keyword fails the test, so the
// schema cannot outgrow the check.

func schemaPath(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "schemas", "micro.schema.json")
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(schemaPath(t))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

type validator struct {
	root map[string]any
	errs []string
}

func validate(root map[string]any, schema any, v any) []string {
	val := &validator{root: root}
	val.check(schema, v, "$")
	return val.errs
}

func (val *validator) fail(path, format string, a ...any) {
	val.errs = append(val.errs, path+": "+fmt.Sprintf(format, a...))
}

func typeOK(t string, v any) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	}
	panic("unknown type " + t)
}

func (val *validator) check(schema any, v any, path string) {
	if b, ok := schema.(bool); ok {
		if !b {
			val.fail(path, "not allowed")
		}
		return
	}
	s := schema.(map[string]any)
	obj, isObj := v.(map[string]any)
	for k, kv := range s {
		switch k {
		case "$schema", "$id", "title", "description", "$defs", "then", "else":
		case "$ref":
			name, ok := strings.CutPrefix(kv.(string), "#/$defs/")
			if !ok {
				panic("unsupported $ref " + kv.(string))
			}
			val.check(val.root["$defs"].(map[string]any)[name], v, path)
		case "type":
			ok := false
			switch t := kv.(type) {
			case string:
				ok = typeOK(t, v)
			case []any:
				for _, x := range t {
					ok = ok || typeOK(x.(string), v)
				}
			}
			if !ok {
				val.fail(path, "%v is not of type %v", v, kv)
			}
		case "const":
			if !reflect.DeepEqual(v, kv) {
				val.fail(path, "%v is not %v", v, kv)
			}
		case "enum":
			found := false
			for _, e := range kv.([]any) {
				found = found || reflect.DeepEqual(v, e)
			}
			if !found {
				val.fail(path, "%v not in %v", v, kv)
			}
		case "minimum":
			if f, ok := v.(float64); ok && f < kv.(float64) {
				val.fail(path, "%v < %v", f, kv)
			}
		case "minLength":
			if str, ok := v.(string); ok && float64(len([]rune(str))) < kv.(float64) {
				val.fail(path, "string shorter than %v", kv)
			}
		case "minItems":
			if a, ok := v.([]any); ok && float64(len(a)) < kv.(float64) {
				val.fail(path, "fewer than %v items", kv)
			}
		case "items":
			if a, ok := v.([]any); ok {
				for i, x := range a {
					val.check(kv, x, fmt.Sprintf("%s[%d]", path, i))
				}
			}
		case "required":
			if isObj {
				for _, r := range kv.([]any) {
					if _, ok := obj[r.(string)]; !ok {
						val.fail(path, "missing %q", r)
					}
				}
			}
		case "properties":
			if isObj {
				for pk, ps := range kv.(map[string]any) {
					if x, ok := obj[pk]; ok {
						val.check(ps, x, path+"."+pk)
					}
				}
			}
		case "additionalProperties":
			if isObj {
				known, _ := s["properties"].(map[string]any)
				for pk, x := range obj {
					if _, ok := known[pk]; !ok {
						val.check(kv, x, path+"."+pk)
					}
				}
			}
		case "propertyNames":
			if isObj {
				for pk := range obj {
					val.check(kv, pk, path+"."+pk+" (name)")
				}
			}
		case "allOf":
			for _, sub := range kv.([]any) {
				val.check(sub, v, path)
			}
		case "if":
			probe := &validator{root: val.root}
			probe.check(kv, v, path)
			branch, ok := s["then"]
			if len(probe.errs) > 0 {
				branch, ok = s["else"]
			}
			if ok {
				val.check(branch, v, path)
			}
		default:
			panic(fmt.Sprintf("schema keyword %q is not supported by this validator", k))
		}
	}
}

// checkDoc validates doc against the schema and checks what the schema
// cannot: the bench, and exactly repeats finite values per metric.
func checkDoc(t *testing.T, doc *Document, bench string, repeats int) map[string]any {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	schema := loadSchema(t)
	if errs := validate(schema, schema, v); len(errs) > 0 {
		t.Fatalf("schema violations: %v\n%s", errs, b)
	}
	if r := v["params"].(map[string]any)["repeats"]; v["bench"] != bench || v["tool"] != "go-micro" || r != float64(repeats) {
		t.Fatalf("bench %v tool %v repeats %v", v["bench"], v["tool"], r)
	}
	for _, c := range doc.Cases {
		if len(c.Metrics) == 0 {
			t.Fatalf("case %s/%s has no metrics", c.Case, c.Variant)
		}
		for k, vals := range c.Metrics {
			if len(vals) != repeats {
				t.Fatalf("%s/%s %s has %d values, want %d", c.Case, c.Variant, k, len(vals), repeats)
			}
			for _, x := range vals {
				if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
					t.Fatalf("%s/%s %s = %v", c.Case, c.Variant, k, x)
				}
			}
		}
	}
	return v
}

func TestValidatorCatchesViolations(t *testing.T) {
	schema := loadSchema(t)
	bad := map[string]any{"schema_version": 2.0, "tool": "x", "cases": []any{}}
	errs := strings.Join(validate(schema, schema, bad), "\n")
	for _, want := range []string{"schema_version", `missing "env"`, "fewer than 1"} {
		if !strings.Contains(errs, want) {
			t.Errorf("no %q in %s", want, errs)
		}
	}
	badMetric := map[string]any{"metrics": map[string]any{"latency": []any{1.0}}}
	if len(validate(schema, schema["$defs"].(map[string]any)["case"], badMetric)) == 0 {
		t.Error("unknown metric name accepted")
	}
}
