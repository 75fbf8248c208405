package locks

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata with the actual output")

// TestTableData runs the scripts in testdata/table: each command changes or
// queries one inode's lock table, and the lines after "----" are what it
// must print (the table after a change, or the conflict that refused it).
// Owners are written SESSION/ID and their pid is ID; ranges are START END
// inclusive, with EOF for "to end of file".
func TestTableData(t *testing.T) {
	path := "testdata/table"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	var tab Table
	lines := strings.Split(string(raw), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			continue
		}
		cmdLine := i + 1
		out.WriteString(line + "\n")
		var want []string
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("%s:%d: command without ----", path, cmdLine)
		}
		for i += 2; i < len(lines) && lines[i] != ""; i++ {
			want = append(want, lines[i])
		}
		var got string
		tab, got = runTableCmd(t, tab, line)
		out.WriteString("----\n" + got)
		if !*rewrite && got != strings.Join(want, "\n")+"\n" {
			t.Errorf("%s:%d: %s\ngot:\n%swant:\n%s", path, cmdLine, line, got, strings.Join(want, "\n")+"\n")
		}
		// Every table a command leaves must survive encoding.
		dec, err := DecodeTable(EncodeTable(tab))
		if err != nil || dumpTable(dec) != dumpTable(tab) {
			t.Errorf("%s:%d: table does not round-trip: %v\n%s", path, cmdLine, err, dumpTable(dec))
		}
		if i < len(lines) {
			out.WriteString("\n")
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(strings.TrimSuffix(out.String(), "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runTableCmd(t *testing.T, tab Table, line string) (Table, string) {
	t.Helper()
	f := strings.Fields(line)
	switch f[0] {
	case "reset":
		return nil, dumpTable(nil)
	case "lock", "test":
		// lock OWNER R|W|U START END [flock]
		req := Lock{Owner: parseOwner(t, f[1]), Kind: parseKind(t, f[2]), Start: parseOff(t, f[3]),
			End: parseOff(t, f[4]), Flock: len(f) > 5 && f[5] == "flock"}
		req.Pid = uint32(req.Owner.ID)
		if l, busy := tab.Conflict(req); busy {
			return tab, "conflict " + fmtLock(l) + "\n"
		}
		if f[0] == "test" {
			return tab, "free\n"
		}
		return tab.Apply(req), dumpTable(tab.Apply(req))
	case "blockers":
		req := Lock{Owner: parseOwner(t, f[1]), Kind: parseKind(t, f[2]), Start: parseOff(t, f[3]),
			End: parseOff(t, f[4]), Flock: len(f) > 5 && f[5] == "flock"}
		return tab, fmt.Sprintln(tab.blockers(req))
	case "release-pid":
		pid, _ := strconv.ParseUint(f[2], 10, 32)
		tab = tab.ReleasePid(f[1], uint32(pid))
	case "release-owner":
		tab = tab.ReleaseOwner(parseOwner(t, f[1]), len(f) > 2 && f[2] == "flock")
	case "release-posix":
		tab = tab.ReleasePosix(f[1])
	case "release-session":
		tab = tab.ReleaseSession(f[1])
	case "span":
		start := parseOff(t, f[1])
		n, _ := strconv.ParseInt(f[2], 10, 64)
		s, e, err := Span(start, n)
		if err != nil {
			return tab, fmt.Sprintln("error", err)
		}
		return tab, fmt.Sprintf("%s %s\n", fmtOff(s), fmtOff(e))
	default:
		t.Fatalf("unknown command %q", f[0])
	}
	return tab, dumpTable(tab)
}

func parseOwner(t *testing.T, s string) Owner {
	sess, id, ok := strings.Cut(s, "/")
	n, err := strconv.ParseUint(id, 10, 64)
	if !ok || err != nil {
		t.Fatalf("bad owner %q", s)
	}
	return Owner{Session: sess, ID: n}
}

func parseKind(t *testing.T, s string) Kind {
	switch s {
	case "R":
		return Read
	case "W":
		return Write
	case "U":
		return Unlock
	}
	t.Fatalf("bad kind %q", s)
	return 0
}

func parseOff(t *testing.T, s string) uint64 {
	if s == "EOF" {
		return EOF
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("bad offset %q", s)
	}
	return n
}

func fmtOff(v uint64) string {
	if v == EOF {
		return "EOF"
	}
	return strconv.FormatUint(v, 10)
}

func fmtLock(l Lock) string {
	fam := "posix"
	if l.Flock {
		fam = "flock"
	}
	return fmt.Sprintf("%s/%d %s %s %s-%s pid=%d", l.Owner.Session, l.Owner.ID, fam, l.Kind, fmtOff(l.Start), fmtOff(l.End), l.Pid)
}

func dumpTable(tab Table) string {
	if len(tab) == 0 {
		return "(no locks)\n"
	}
	var b strings.Builder
	for _, l := range tab {
		b.WriteString(fmtLock(l) + "\n")
	}
	return b.String()
}

// TestDecodeTableRejects feeds DecodeTable damaged encodings: it must fail
// rather than return lock state it cannot vouch for.
func TestDecodeTableRejects(t *testing.T) {
	good := EncodeTable(Table{
		{Owner: Owner{"s1", 7}, Pid: 7, Kind: Read, Start: 0, End: 9},
		{Owner: Owner{"s2", 8}, Pid: 8, Kind: Write, Start: 20, End: EOF},
	})
	if _, err := DecodeTable(good); err != nil {
		t.Fatalf("good table: %v", err)
	}
	for n := 1; n < len(good); n++ {
		if _, err := DecodeTable(good[:n]); err == nil {
			t.Errorf("truncated to %d bytes: decoded without error", n)
		}
	}
	bad := map[string][]byte{
		"version":  append([]byte{9}, good[1:]...),
		"trailing": append(append([]byte(nil), good...), 0),
		"order": EncodeTable(Table{{Owner: Owner{"s", 1}, Kind: Read, Start: 5, End: 9},
			{Owner: Owner{"s", 1}, Kind: Read, Start: 0, End: 1}}),
		"kind":  EncodeTable(Table{{Owner: Owner{"s", 1}, Kind: Unlock, Start: 0, End: 1}}),
		"range": EncodeTable(Table{{Owner: Owner{"s", 1}, Kind: Read, Start: 5, End: 1}}),
	}
	for name, b := range bad {
		if _, err := DecodeTable(b); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}
