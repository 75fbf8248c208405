package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/cmd/internal/cliutil"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
)

func policyCommand() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "rules that choose and order sites by path and operation",
		Description: "Patterns are relative to the filesystem root: globs with *, ? and ** (any\n" +
			"number of path elements), or a prefix ending in /. Among matching rules the\n" +
			"highest priority wins. With no matching rule the order is primary, burst,\n" +
			"backup. Every mount picks up changes at once.",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add a rule",
				UsageText: "hafs policy add --pattern GLOB --ops read,write,delete --roles ROLES --priority N NAME",
				Flags: append(cliutil.StoreFlags(),
					&cli.StringFlag{Name: "pattern", Required: true, Usage: "path `GLOB` or prefix/"},
					&cli.StringFlag{Name: "ops", Required: true, Usage: "comma-separated `OPS`: read, write, delete"},
					&cli.StringFlag{Name: "roles", Required: true, Usage: "comma-separated `ROLES` in order: primary, burst, backup"},
					&cli.IntFlag{Name: "priority", Usage: "rule priority `N`: the highest among matching rules wins"}),
				Action: policyAdd,
			},
			{
				Name:      "list",
				Usage:     "list the rules",
				UsageText: "hafs policy list [--json]",
				Flags:     append(cliutil.StoreFlags(), &cli.BoolFlag{Name: "json", Usage: "print JSON"}),
				Action: cliutil.WithFS(func(c *cli.Context, m *meta.FS) error {
					rules, err := loadRules(c, m)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(map[string]any{"rules": rules})
					}
					w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "NAME\tPATTERN\tOPS\tROLES\tPRIORITY")
					for _, r := range rules {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\n", r.Name, r.Pattern, strings.Join(r.Ops, ","),
							strings.Join(r.Roles, ","), r.Priority)
					}
					return w.Flush()
				}),
			},
			{
				Name:      "remove",
				Usage:     "remove a rule",
				UsageText: "hafs policy remove NAME",
				Flags:     cliutil.StoreFlags(),
				Action:    policyRemove,
			},
			{
				Name:      "explain",
				Usage:     "show the sites an operation on a path uses, in order, and why",
				UsageText: "hafs policy explain PATH OP",
				Description: "OP is read, write or delete. Reads rank by the latency measured now;\n" +
					"writes go to every primary before they are acknowledged and reach the other\n" +
					"sites through the replication queue; deletions reach every site.",
				Flags:  cliutil.StoreFlags(),
				Action: policyExplain,
			},
		},
	}
}

// policyAdd records a rule after checking it.
func policyAdd(c *cli.Context) error {
	if c.NArg() != 1 {
		return errors.New("want exactly one rule NAME")
	}
	rule := routing.Rule{Name: c.Args().First(), Pattern: c.String("pattern"),
		Ops: splitList(c.String("ops")), Roles: splitList(c.String("roles")), Priority: c.Int("priority")}
	if err := rule.Validate(); err != nil {
		return err
	}
	raw, err := json.Marshal(rule)
	if err != nil {
		return err
	}
	m, s, err := cliutil.OpenFS(c)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := m.AddRule(c.Context, rule.Name, raw); err != nil {
		return err
	}
	fmt.Printf("policy rule %s added\n", rule.Name)
	return nil
}

// policyRemove removes a rule by name.
func policyRemove(c *cli.Context) error {
	if c.NArg() != 1 {
		return errors.New("want exactly one rule NAME")
	}
	m, s, err := cliutil.OpenFS(c)
	if err != nil {
		return err
	}
	defer s.Close()
	found, err := m.RemoveRule(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("policy rule %q: no such rule", c.Args().First())
	}
	fmt.Printf("policy rule %s removed\n", c.Args().First())
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func loadRules(c *cli.Context, m *meta.FS) ([]routing.Rule, error) {
	v, err := m.LoadSites(c.Context)
	if err != nil {
		return nil, err
	}
	var rules []routing.Rule
	for name, raw := range v.Rules {
		var r routing.Rule
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("policy rule %q: corrupt record: %w", name, err)
		}
		rules = append(rules, r)
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].Name < rules[j].Name })
	return rules, nil
}

func policyExplain(c *cli.Context) error {
	if c.NArg() != 2 {
		return errors.New("want PATH and OP (read, write or delete)")
	}
	path, op := strings.Trim(c.Args().Get(0), "/"), c.Args().Get(1)
	if op != routing.OpRead && op != routing.OpWrite && op != routing.OpDelete {
		return fmt.Errorf("operation %q: want read, write or delete", op)
	}
	m, s, err := cliutil.OpenFS(c)
	if err != nil {
		return err
	}
	defer s.Close()
	rules, err := loadRules(c, m)
	if err != nil {
		return err
	}
	r, err := cliutil.OpenRouter(c.Context, m, nil)
	if err != nil {
		return err
	}
	if r == nil {
		return errors.New("this filesystem keeps all data in the metadata store: it has no sites")
	}
	roles, rule := routing.Policy(rules).Choose(path, op)
	if rule == "" {
		fmt.Printf("rule: none matches %q for %s; default order %s\n", path, op, strings.Join(roles, ", "))
	} else {
		i := sort.Search(len(rules), func(i int) bool { return rules[i].Name >= rule })
		fmt.Printf("rule: %s (pattern %q, priority %d) orders %s\n", rule, rules[i].Pattern, rules[i].Priority, strings.Join(roles, ", "))
	}
	info := map[string]routing.SiteInfo{}
	for _, s := range r.Sites() {
		info[s.Name] = s
	}
	var names []string
	switch op {
	case routing.OpRead:
		r.ProbeOnce(c.Context)
		names, _ = r.ReadOrder(path)
	default:
		// Invariants beat rules here: a block is acknowledged only once
		// every primary has it, and it reaches, and leaves, every site.
		if rule != "" {
			fmt.Printf("note: %ss reach every site whatever the rule; it only orders reads\n", op)
		}
		for _, role := range []string{routing.RolePrimary, routing.RoleBurst, routing.RoleBackup} {
			for _, s := range r.Sites() {
				if s.Role == role {
					names = append(names, s.Name)
				}
			}
		}
	}
	for i, n := range names {
		s := info[n]
		how := ""
		switch {
		case op == routing.OpRead:
			how = fmt.Sprintf("latency %.1f ms, breaker %s", float64(info[n].Latency.Microseconds())/1000, s.Breaker)
		case op == routing.OpWrite && s.Role == routing.RolePrimary:
			how = "synchronous: acknowledged only when every primary has the block"
		case op == routing.OpWrite:
			how = "asynchronous: durable replication job"
		default:
			how = "durable deletion job"
		}
		fmt.Printf("%d. %s (%s, %s): %s\n", i+1, n, s.Role, s.Site.String(), how)
	}
	if len(names) == 0 {
		return fmt.Errorf("no site serves %s of %q", op, path)
	}
	return nil
}
