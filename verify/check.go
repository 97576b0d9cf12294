package verify

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Defaults of a check's policy.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultHTTPTimeout      = 10 * time.Second
	DefaultInterval         = 5 * time.Second
	DefaultSuccessThreshold = 1
	DefaultFailureThreshold = 3
	DefaultErrorThreshold   = 4
	DefaultMetricsPath      = "/metrics"
	DefaultExpectedStatus   = 200
)

// Default fills the unset fields of an enabled check with the design's
// defaults. A disabled check is left as it is.
func (c *Check) Default() {
	if !c.Enabled {
		return
	}
	if c.Timeout == nil {
		d := DefaultTimeout
		if c.Type == TypeHTTP {
			d = DefaultHTTPTimeout
		}
		c.Timeout = &metav1.Duration{Duration: d}
	}
	if c.Interval == nil {
		c.Interval = &metav1.Duration{Duration: DefaultInterval}
	}
	if c.SuccessThreshold == 0 {
		c.SuccessThreshold = DefaultSuccessThreshold
	}
	if c.FailureThreshold == 0 {
		c.FailureThreshold = DefaultFailureThreshold
	}
	if c.ErrorThreshold == 0 {
		c.ErrorThreshold = DefaultErrorThreshold
	}
	switch c.Type {
	case TypeMetrics:
		if c.Path == "" {
			c.Path = DefaultMetricsPath
		}
	case TypeHTTP:
		if c.ExpectedStatus == 0 {
			c.ExpectedStatus = DefaultExpectedStatus
		}
	}
}

// TimeoutOrDefault returns the per-attempt timeout.
func (c Check) TimeoutOrDefault() time.Duration {
	if c.Timeout != nil && c.Timeout.Duration > 0 {
		return c.Timeout.Duration
	}
	if c.Type == TypeHTTP {
		return DefaultHTTPTimeout
	}
	return DefaultTimeout
}

// IntervalOrDefault returns the pause between attempts.
func (c Check) IntervalOrDefault() time.Duration {
	if c.Interval != nil && c.Interval.Duration > 0 {
		return c.Interval.Duration
	}
	return DefaultInterval
}

func orDefault(v, d int32) int32 {
	if v > 0 {
		return v
	}
	return d
}

// Thresholds returns the success, failure and error thresholds, defaults
// applied.
func (c Check) Thresholds() (success, failure, errs int32) {
	return orDefault(c.SuccessThreshold, DefaultSuccessThreshold),
		orDefault(c.FailureThreshold, DefaultFailureThreshold),
		orDefault(c.ErrorThreshold, DefaultErrorThreshold)
}

// Validate checks an enabled check; path is where it sits in the spec
// (spec.postUpgradeVerify). A disabled check is not validated.
func (c Check) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !c.Enabled {
		return nil
	}
	switch c.Type {
	case TypeHealthCheck:
	case TypeExec, TypeCustom:
		if strings.TrimSpace(c.Command) == "" {
			errs = append(errs, field.Required(path.Child("command"), fmt.Sprintf("a %s check runs a command", c.Type)))
		}
		switch c.Match {
		case "", MatchContains, MatchExact:
		case MatchRegex:
			if _, err := regexp.Compile(string(c.Expected)); err != nil {
				errs = append(errs, field.Invalid(path.Child("expected"), string(c.Expected), "not a regular expression: "+err.Error()))
			}
		default:
			errs = append(errs, field.NotSupported(path.Child("match"), c.Match, []string{string(MatchContains), string(MatchExact), string(MatchRegex)}))
		}
	case TypeMetrics:
		if len(c.Metrics) == 0 {
			errs = append(errs, field.Required(path.Child("metrics"), "a metrics check needs at least one metric"))
		}
		for i, m := range c.Metrics {
			p := path.Child("metrics").Index(i)
			if _, err := ParseSelector(m.Name); err != nil {
				errs = append(errs, field.Invalid(p.Child("name"), m.Name, err.Error()))
			}
			if _, err := ParseExpectation(string(m.Expected)); err != nil {
				errs = append(errs, field.Invalid(p.Child("expected"), string(m.Expected), err.Error()))
			}
		}
		if c.Path != "" && !strings.HasPrefix(c.Path, "/") {
			errs = append(errs, field.Invalid(path.Child("path"), c.Path, "must be a path starting with /"))
		}
	case TypeHTTP:
		if c.Endpoint == "" {
			errs = append(errs, field.Required(path.Child("endpoint"), "an http check needs an endpoint path such as /health"))
		} else if err := validPath(c.Endpoint); err != nil {
			errs = append(errs, field.Invalid(path.Child("endpoint"), c.Endpoint, err.Error()))
		}
		if c.ExpectedStatus != 0 && (c.ExpectedStatus < 100 || c.ExpectedStatus > 599) {
			errs = append(errs, field.Invalid(path.Child("expectedStatus"), c.ExpectedStatus, "must be an HTTP status code (100-599)"))
		}
	case "":
		errs = append(errs, field.Required(path.Child("type"), "an enabled check needs a type"))
	default:
		errs = append(errs, field.NotSupported(path.Child("type"), c.Type,
			[]string{string(TypeHealthCheck), string(TypeCustom), string(TypeExec), string(TypeMetrics), string(TypeHTTP)}))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, field.Invalid(path.Child("port"), c.Port, "must be between 0 and 65535"))
	}
	for _, d := range []struct {
		name string
		v    *metav1.Duration
	}{{"timeout", c.Timeout}, {"interval", c.Interval}} {
		if d.v != nil && d.v.Duration <= 0 {
			errs = append(errs, field.Invalid(path.Child(d.name), d.v.Duration.String(), "must be a positive duration"))
		}
	}
	for _, t := range []struct {
		name string
		v    int32
	}{{"successThreshold", c.SuccessThreshold}, {"failureThreshold", c.FailureThreshold}, {"errorThreshold", c.ErrorThreshold}} {
		if t.v < 0 {
			errs = append(errs, field.Invalid(path.Child(t.name), t.v, "must be greater than or equal to 0"))
		}
	}
	return errs
}

func validPath(p string) error {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return fmt.Errorf("must be a path on the pod starting with / (not a URL or host)")
	}
	u, err := url.Parse(p)
	if err != nil {
		return fmt.Errorf("not a valid path: %v", err)
	}
	if u.Scheme != "" || u.Host != "" {
		return fmt.Errorf("must be a path on the pod, not a URL")
	}
	return nil
}
