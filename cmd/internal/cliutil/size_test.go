package cliutil

import "testing"

func TestParseSize(t *testing.T) {
	good := map[string]int64{"0": 0, "4096": 4096, "1K": 1024, "512M": 512 << 20, "1.5G": 3 << 29,
		"2TiB": 2 << 40, "1 GB": 1 << 30, "4E": 4 << 60, "10b": 10}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-5", "-1G", "G", "1X", "8E", "abc", "NaN"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	if s := FormatSize(3 << 29); s != "1.5 GiB" {
		t.Errorf("FormatSize(1.5G) = %q", s)
	}
}
