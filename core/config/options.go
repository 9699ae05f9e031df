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

// AllowUnknown makes Load ignore SLINKERD_* variables that Config does
// not read, instead of reporting each as an error.
func AllowUnknown() Option {
	return func(o *options) { o.allowUnknown = true }
}
