package verify

import (
	"reflect"
	"testing"
)

// FuzzParseExpectation: parsing never panics, and a parsed expectation
// renders (String) to text that parses back to an equal one.
func FuzzParseExpectation(f *testing.F) {
	for _, s := range []string{"1", ">0", "1.0", ">=0.99", "<5", "<=5", "!=0", "==1", " > 3 ", "-1", "+Inf", ">-Inf", "1e3", "0x1p-2", "==", ">", "", "NaN", "=>1", "1_000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpectation(s)
		if err != nil {
			return
		}
		back, err := ParseExpectation(e.String())
		if err != nil {
			t.Fatalf("ParseExpectation(%q) = %v, whose String %q does not parse: %v", s, e, e.String(), err)
		}
		if back != e {
			t.Fatalf("ParseExpectation(%q) = %#v; round trip through %q gives %#v", s, e, e.String(), back)
		}
		_ = e.Holds(0)
	})
}

// FuzzParseSelector: parsing never panics, and a parsed selector renders
// (String) to text that parses back to an equal one.
func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{
		"redis_up", `redis_up{role="master"}`, "redis_connected_clients",
		`redis_up{role!="replica",addr="127.0.0.1:6379"}`, `a{x="\"q\"\\n"}`, `a{}`, `a{x="1",}`,
		`a{x=~"1"}`, `a{x="1"`, `{x="1"}`, `a b`, `a:b{c="}"}`, `a{x="é\n"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			return
		}
		back, err := ParseSelector(sel.String())
		if err != nil {
			t.Fatalf("ParseSelector(%q) = %#v, whose String %q does not parse: %v", s, sel, sel.String(), err)
		}
		if !reflect.DeepEqual(back, sel) {
			t.Fatalf("ParseSelector(%q) = %#v; round trip through %q gives %#v", s, sel, sel.String(), back)
		}
		_ = sel.Matches(sel.Name, map[string]string{})
	})
}
