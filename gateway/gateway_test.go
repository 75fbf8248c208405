package gateway

import (
	"net/http"
	"testing"
)

func TestBasicOps(t *testing.T) {
	r := newRig(t, nil)
	r.want(t, http.StatusCreated, "MKCOL", "/d/", "")
	r.want(t, http.StatusCreated, "PUT", "/d/a.txt", "hello")
	if b := r.want(t, http.StatusOK, "GET", "/d/a.txt", ""); b != "hello" {
		t.Fatalf("GET = %q", b)
	}
}
