package meta_test

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/hafs/hafs/meta"
)

// TestLookupHint checks that a hint only ever saves a read: a right hint,
// a wrong one (the name leads elsewhere), one of a removed inode and none
// all answer as Lookup does.
func TestLookupHint(t *testing.T) {
	m := newFS(t, 0)
	ctx := context.Background()
	reg := meta.NewNode{Mode: syscall.S_IFREG | 0o644}
	a, err := m.Create(ctx, meta.RootIno, "a", reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Create(ctx, meta.RootIno, "b", reg)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := m.Create(ctx, meta.RootIno, "gone", reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Unlink(ctx, meta.RootIno, "gone"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		hint uint64
		want uint64 // 0: ENOENT
	}{
		{"a", a.Ino, a.Ino},
		{"a", b.Ino, a.Ino},    // wrong hint
		{"a", gone.Ino, a.Ino}, // a removed inode
		{"a", 0, a.Ino},
		{"b", a.Ino, b.Ino},
		{"gone", gone.Ino, 0},
		{"never", a.Ino, 0},
	} {
		got, err := m.LookupHint(ctx, meta.RootIno, tc.name, tc.hint)
		switch {
		case tc.want == 0 && !errors.Is(err, syscall.ENOENT):
			t.Errorf("LookupHint(%q, %d) = %v, %v; want ENOENT", tc.name, tc.hint, got, err)
		case tc.want != 0 && (err != nil || got.Ino != tc.want):
			t.Errorf("LookupHint(%q, %d) = %v, %v; want inode %d", tc.name, tc.hint, got, err, tc.want)
		}
	}
}
