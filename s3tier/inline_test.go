package s3tier

import (
	"bytes"
	"context"
	"testing"
)

// TestSeededBody: a body seeded at open answers the read that follows
// without the store, and nothing stale survives what makes it stale: this
// client's write, an Invalidate (a lock granted, an open), or the read
// reaching the end of the file.
func TestSeededBody(t *testing.T) {
	tier, _, ino, other := newInlineEnv(t)
	ctx := context.Background()
	o := other()
	if _, err := o.Write(ctx, ino, 0, []byte("version one")); err != nil {
		t.Fatal(err)
	}
	seed := func() {
		t.Helper()
		a, body, err := o.CheckOpenInline(ctx, ino, InlineReadMax)
		if err != nil {
			t.Fatal(err)
		}
		tier.SeedInline(ino, a, body)
	}
	read := func() string {
		t.Helper()
		buf := make([]byte, 100)
		n, err := tier.ReadInto(ctx, ino, 0, buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	seed()
	// Another client changes the file after the open: the open's version
	// is what close-to-open promises, and the read at the end uses it up.
	if _, err := o.Write(ctx, ino, 0, []byte("VERSION TWO")); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "version one" {
		t.Errorf("read after open = %q, want the open's %q", got, "version one")
	}
	if got := read(); got != "VERSION TWO" {
		t.Errorf("second read = %q, want the store's %q", got, "VERSION TWO")
	}

	seed()
	if err := tier.Write(ctx, ino, 0, []byte("mine")); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "mineION TWO" {
		t.Errorf("read after this client's write = %q, want %q", got, "mineION TWO")
	}

	seed()
	if _, err := o.Write(ctx, ino, 0, []byte("lock")); err != nil {
		t.Fatal(err)
	}
	tier.Invalidate(ino) // a lock granted
	if got := read(); got != "lockION TWO" {
		t.Errorf("read after an invalidation = %q, want %q", got, "lockION TWO")
	}
	// A part read keeps the body for the rest.
	seed()
	buf := make([]byte, 4)
	if n, err := tier.ReadInto(ctx, ino, 0, buf); err != nil || !bytes.Equal(buf[:n], []byte("lock")) {
		t.Fatalf("part read = %q, %v", buf[:n], err)
	}
	tier.mu.Lock()
	kept := tier.inlines[ino] != nil
	tier.mu.Unlock()
	if !kept {
		t.Error("a read short of the end used the body up")
	}
}
