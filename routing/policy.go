package routing

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Operations a policy rule applies to.
const (
	OpRead   = "read"
	OpWrite  = "write"
	OpDelete = "delete"
)

// Site roles, in the order used when no rule matches.
const (
	RolePrimary = "primary"
	RoleBurst   = "burst"
	RoleBackup  = "backup"
)

// defaultRoles is the order of roles when no rule matches a path; it is
// never modified (Choose returns copies).
var defaultRoles = []string{RolePrimary, RoleBurst, RoleBackup}

// Rule chooses and orders site roles for the paths its pattern matches and
// the operations it lists. Rules are stored in the filesystem's metadata
// (JSON) by `hafs policy add`.
type Rule struct {
	Name     string   `json:"name"`
	Pattern  string   `json:"pattern"`
	Ops      []string `json:"ops"`
	Roles    []string `json:"roles"`
	Priority int      `json:"priority"`
}

// Validate checks a rule's fields.
func (r Rule) Validate() error {
	if r.Name == "" {
		return fmt.Errorf("policy rule: empty name")
	}
	if r.Pattern == "" || strings.HasPrefix(r.Pattern, "/") {
		return fmt.Errorf("policy rule %q: pattern %q must be non-empty and relative to the filesystem root", r.Name, r.Pattern)
	}
	if len(r.Ops) == 0 || len(r.Roles) == 0 {
		return fmt.Errorf("policy rule %q: needs at least one operation and one role", r.Name)
	}
	for _, op := range r.Ops {
		if op != OpRead && op != OpWrite && op != OpDelete {
			return fmt.Errorf("policy rule %q: unknown operation %q (want read, write or delete)", r.Name, op)
		}
	}
	for _, role := range r.Roles {
		if !slices.Contains(defaultRoles, role) {
			return fmt.Errorf("policy rule %q: unknown role %q (want primary, burst or backup)", r.Name, role)
		}
	}
	return nil
}

// Policy is a set of rules.
type Policy []Rule

// Choose returns the roles, in order, for op on path (relative to the
// filesystem root, no leading slash), and the name of the rule that chose
// them ("" for the default order). Among matching rules the highest
// priority wins; equal priorities go to the longer pattern, then the name.
func (p Policy) Choose(path, op string) ([]string, string) {
	var best *Rule
	for i := range p {
		r := &p[i]
		if !slices.Contains(r.Ops, op) || !MatchPath(r.Pattern, path) {
			continue
		}
		if best == nil || cmp.Or(cmp.Compare(r.Priority, best.Priority), cmp.Compare(len(r.Pattern), len(best.Pattern)),
			cmp.Compare(best.Name, r.Name)) > 0 {
			best = r
		}
	}
	if best == nil {
		return slices.Clone(defaultRoles), ""
	}
	return slices.Clone(best.Roles), best.Name
}

// MatchPath reports whether path matches pattern: a prefix ending in "/"
// matches everything under it; otherwise a glob where "*" matches within
// one path element, "?" one character of an element, and "**" any number
// of whole elements (including none).
func MatchPath(pattern, path string) bool {
	path = strings.Trim(path, "/")
	if strings.HasSuffix(pattern, "/") && !strings.ContainsAny(pattern, "*?") {
		prefix := strings.Trim(pattern, "/")
		return prefix == "" || path == prefix || strings.HasPrefix(path, prefix+"/")
	}
	return matchElems(strings.Split(strings.Trim(pattern, "/"), "/"), strings.Split(path, "/"))
}

func matchElems(pat, elems []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			for i := 0; i <= len(elems); i++ {
				if matchElems(rest, elems[i:]) {
					return true
				}
			}
			return false
		}
		if len(elems) == 0 || !matchElem(pat[0], elems[0]) {
			return false
		}
		pat, elems = pat[1:], elems[1:]
	}
	return len(elems) == 0
}

// matchElem matches one path element against a pattern element of
// literals, "*" and "?".
func matchElem(pat, s string) bool {
	if pat == "" {
		return s == ""
	}
	switch pat[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if matchElem(pat[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && matchElem(pat[1:], s[1:])
	default:
		return s != "" && s[0] == pat[0] && matchElem(pat[1:], s[1:])
	}
}
