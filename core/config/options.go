package config

// Option configures Load.
type Option func(*options)

type options struct {
	validators
	allowUnknown bool
}

// validators are the hooks for the values other packages parse, so that
// core/config need not import them.
type validators struct {
	dtab   func(string) error
	policy func(string) error
	// choices are values allowed beyond a variable's oneof tag, by
	// variable name (WithChoices).
	choices map[string][]string
}

// WithDtabValidator makes Validate check SLINKERD_DTAB with fn, e.g. a
// wrapper around name.ParseDtab. Its error (with the parse offset) is the
// reason given. Without it, the dtab is not checked here.
func WithDtabValidator(fn func(dtab string) error) Option {
	return func(o *options) { o.dtab = fn }
}

// WithPolicyValidator makes Validate check SLINKERD_SVC_POLICY with fn.
// Without it, the policy is not checked here.
func WithPolicyValidator(fn func(policy string) error) Option {
	return func(o *options) { o.policy = fn }
}

// WithChoices allows values for the variable named (SLINKERD_BALANCER,
// SLINKERD_CLASSIFIER) beyond the ones Config lists: the balancers and
// classifiers registered with core/balance and core/retry.
func WithChoices(variable string, values ...string) Option {
	return func(o *options) {
		if o.choices == nil {
			o.choices = map[string][]string{}
		}
		o.choices[variable] = append(o.choices[variable], values...)
	}
}

// AllowUnknown makes Load ignore SLINKERD_* variables that Config does
// not read, instead of reporting each as an error.
func AllowUnknown() Option {
	return func(o *options) { o.allowUnknown = true }
}
