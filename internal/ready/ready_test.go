package ready

import (
	"strings"
	"testing"
)

type says struct {
	*strings.Reader
	ready bool
}

func (s says) Ready() bool { return s.ready }

func TestNow(t *testing.T) {
	if !Now(says{strings.NewReader("x"), true}) {
		t.Error("a reader that says it is ready is not")
	}
	if Now(says{strings.NewReader("x"), false}) {
		t.Error("a reader that says it would wait is ready")
	}
	if Now(strings.NewReader("x")) {
		t.Error("a reader that cannot tell is taken as ready")
	}
}
