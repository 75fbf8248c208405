package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/cmd/internal/cliutil"
	"github.com/hafs/hafs/cmd/internal/progress"
	"github.com/hafs/hafs/fdbstore"
	"github.com/hafs/hafs/meta"
	"github.com/hafs/hafs/routing"
)

func siteCommand() *cli.Command {
	return &cli.Command{
		Name:  "site",
		Usage: "add, list and remove object store sites",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add a site (a bucket) and copy existing data to it",
				UsageText: "hafs site add --endpoint URL --bucket BUCKET [--prefix P] [--region R] [--profile P] --role ROLE NAME",
				Description: "Creates the bucket if missing and checks it can put, read back and delete a\n" +
					"probe object before recording the site. Existing data is copied to it by the\n" +
					"replication queue (the backfill), visible in `hafs status`. Credentials come\n" +
					"from the standard AWS chain; --profile names a profile in ~/.aws files.",
				Flags: append(cliutil.StoreFlags(),
					&cli.StringFlag{Name: "endpoint", Required: true, Usage: "S3 endpoint `URL`, http(s)://HOST[:PORT], or file:///DIR for a directory"},
					&cli.StringFlag{Name: "bucket", Usage: "bucket `NAME` (none for a directory)"},
					&cli.StringFlag{Name: "prefix", Usage: "key `PREFIX` inside the bucket"},
					&cli.StringFlag{Name: "region", Usage: "`REGION` (default us-east-1)"},
					&cli.StringFlag{Name: "profile", Usage: "AWS shared-config `PROFILE` holding the credentials"},
					&cli.StringFlag{Name: "role", Required: true, Usage: "`ROLE`: primary (written synchronously), burst or backup (async replicas)"}),
				Action: siteAdd,
			},
			{
				Name:      "list",
				Usage:     "list the sites with their health and backlog",
				UsageText: "hafs site list [--json]",
				Flags:     append(cliutil.StoreFlags(), &cli.BoolFlag{Name: "json", Usage: "print JSON"}),
				Action: cliutil.WithFS(func(c *cli.Context, m *meta.FS) error {
					rows, err := siteReport(c.Context, m)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						type listed struct {
							routing.SiteStatus
							Bucket string `json:"bucket"`
						}
						out := make([]listed, len(rows))
						for i, r := range rows {
							out[i] = listed{r, r.URL}
						}
						return printJSON(map[string]any{"sites": out})
					}
					w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "NAME\tROLE\tBUCKET\tHEALTHY\tBREAKER\tLATENCY\tBACKLOG")
					for _, r := range rows {
						fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\t%.1f ms\t%d jobs, %d bytes\n", r.Name, r.Role, r.URL,
							r.Healthy, r.Breaker, r.LatencyMS, r.BacklogJobs, r.BacklogBytes)
					}
					return w.Flush()
				}),
			},
			{
				Name:      "remove",
				Usage:     "drain a site, then forget it",
				UsageText: "hafs site remove [--drain=false] NAME",
				Description: "By default first copies every block the other sites lack to them (a progress\n" +
					"line on stderr), then removes the site. Refuses to remove the last primary.\n" +
					"The bucket itself is left as it is.",
				Flags:  append(cliutil.StoreFlags(), &cli.BoolFlag{Name: "drain", Value: true, Usage: "copy what only this site holds first"}),
				Action: siteRemove,
			},
		},
	}
}

// siteName checks a site name: it appears in metric labels and logs.
func siteName(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", errors.New("want exactly one site NAME")
	}
	name := c.Args().First()
	ok := name != "" && len(name) <= 63
	for _, r := range name {
		ok = ok && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}
	if !ok {
		return "", fmt.Errorf("site name %q: use 1-63 lowercase letters, digits, '-', '_' or '.'", name)
	}
	return name, nil
}

func siteAdd(c *cli.Context) error {
	name, err := siteName(c)
	if err != nil {
		return err
	}
	role := c.String("role")
	if role != routing.RolePrimary && role != routing.RoleBurst && role != routing.RoleBackup {
		return fmt.Errorf("role %q: want primary, burst or backup", role)
	}
	site, err := routing.ParseBucketURL(strings.TrimSuffix(c.String("endpoint"), "/") + "/" + c.String("bucket") + "/" + c.String("prefix"))
	if err != nil {
		return err
	}
	site.Name, site.Role, site.Region, site.Profile = name, role, c.String("region"), c.String("profile")
	m, s, err := cliutil.OpenFS(c)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := c.Context
	if m.Layout() == nil {
		return errors.New("this filesystem keeps all data in the metadata store; make it with hafs-mkfs --bucket to use sites")
	}
	if cur, err := m.Sites(ctx); err != nil {
		return err
	} else if _, dup := cur[name]; dup {
		return fmt.Errorf("site %q: %w", name, meta.ErrSiteExists)
	}
	obj, err := routing.OpenSite(ctx, site)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := routing.Probe(pctx, obj); err != nil {
		return fmt.Errorf("site %q: %w", name, err)
	}
	desc, err := json.Marshal(site)
	if err != nil {
		return err
	}
	if err := m.AddSite(ctx, name, desc); err != nil {
		return err
	}
	fmt.Printf("site %s added: %s, role %s\n", name, site, role)
	for {
		st, err := m.Backfill(ctx, name)
		if err != nil {
			return fmt.Errorf("backfill: %w (the mounts will finish it)", err)
		}
		switch st {
		case meta.BackfillWaiting:
			fmt.Println("backfill: waiting for the running mounts to pick up the new primary; they will queue it")
			return nil
		case meta.BackfillDone:
			bl, err := m.Backlogs(ctx)
			if err != nil {
				return err
			}
			fmt.Printf("backfill: %d jobs (%d bytes) queued; the mounts copy them (see hafs status)\n", bl[name].Jobs, bl[name].Bytes)
			return nil
		}
	}
}

func siteRemove(c *cli.Context) error {
	name, err := siteName(c)
	if err != nil {
		return err
	}
	m, s, err := cliutil.OpenFS(c)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := c.Context
	v, err := m.LoadSites(ctx)
	if err != nil {
		return err
	}
	idx := slices.IndexFunc(v.Sites, func(r meta.SiteRecord) bool { return r.Name == name })
	if idx < 0 {
		return fmt.Errorf("site %q: %w", name, meta.ErrNoSite)
	}
	others := 0
	for _, r := range v.Sites {
		if r.Role == meta.RolePrimary && r.Name != name {
			others++
		}
	}
	if v.Sites[idx].Role == meta.RolePrimary && others == 0 {
		return fmt.Errorf("site %q: %w; add another primary first", name, meta.ErrLastPrimary)
	}
	if c.Bool("drain") {
		// The copies are claimed like a mount's, under a session of this
		// process, which ends after the removal.
		host, _ := os.Hostname()
		if err := m.StartSession(ctx, meta.SessionInfo{Hostname: host, Pid: os.Getpid(),
			Mountpoint: "(hafs site remove)", Version: cliutil.Version}, nil); err != nil {
			return err
		}
		defer func() { _ = m.EndSession(context.Background()) }()
		r, err := cliutil.OpenRouter(ctx, m, nil)
		if err != nil {
			return err
		}
		bl, err := m.Backlogs(ctx)
		if err != nil {
			return err
		}
		var total int64
		for site, b := range bl {
			if site != name {
				total += b.Jobs
			}
		}
		bar := progress.New(os.Stderr, "drain "+name+": copy jobs", total)
		err = r.DrainWith(ctx, name, os.Stderr, bar)
		bar.Done()
		if err != nil {
			return err
		}
	}
	if err := m.RemoveSite(ctx, name, c.Bool("drain")); err != nil {
		return err
	}
	fmt.Printf("site %s removed\n", name)
	return nil
}

// siteReport is the status of every site, or an error when the
// filesystem has none.
func siteReport(ctx context.Context, m *meta.FS) ([]routing.SiteStatus, error) {
	r, err := cliutil.OpenRouter(ctx, m, nil)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errors.New("this filesystem keeps all data in the metadata store: it has no sites")
	}
	return r.Status(ctx)
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show whether the filesystem is healthy, and every site's health, breaker, latency and replication backlog",
		UsageText: "hafs status [--store URL] [--name NAME] [--json]",
		Description: "Probes each site from here and reads the replication queues from the store,\n" +
			"so it works with no mount running. Prints \"healthy true\", or \"healthy false\"\n" +
			"with the reason, and exits 1 when the metadata store is full or a primary site\n" +
			"is unhealthy. A filesystem\n" +
			"without a bucket keeps every body in the store: it has no sites to check.",
		Flags: append(cliutil.StoreFlags(), &cli.BoolFlag{Name: "json", Usage: "print one JSON object"}),
		Action: cliutil.WithFS(func(c *cli.Context, m *meta.FS) error {
			var rows []routing.SiteStatus
			r, err := cliutil.OpenRouter(c.Context, m, nil)
			if err != nil {
				return err
			}
			if r != nil {
				if rows, err = r.Status(c.Context); err != nil {
					return err
				}
			}
			reason, full := "", false
			if fr, ok := m.Store().(fdbstore.FullReporter); ok {
				if full, reason = fr.Full(); full {
					reason += ": free space (rm, truncate) or grow its disk"
				} else {
					reason = ""
				}
			}
			for _, r := range rows {
				if r.Role == routing.RolePrimary && !r.Healthy && reason == "" {
					reason = fmt.Sprintf("primary site %s is unhealthy: %s", r.Name, orUnknown(r.Reason))
				}
			}
			if c.Bool("json") {
				if err := printJSON(map[string]any{"healthy": reason == "", "reason": reason, "store_full": full, "sites": rows}); err != nil {
					return err
				}
			} else if err := printStatus(c.String("name"), reason, rows); err != nil {
				return err
			}
			if reason != "" {
				return errors.New(reason)
			}
			return nil
		}),
	}
}

// printStatus prints the status as text: the verdict, then the sites.
func printStatus(name, reason string, rows []routing.SiteStatus) error {
	if reason == "" {
		fmt.Printf("filesystem %s: healthy true\n", name)
	} else {
		fmt.Printf("filesystem %s: healthy false (%s)\n", name, reason)
	}
	if len(rows) == 0 {
		fmt.Println("no sites: every file body lives in the metadata store")
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SITE\tROLE\tHEALTHY\tBREAKER\tLATENCY\tBACKLOG JOBS\tBACKLOG BYTES\tOLDEST JOB\tREASON")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%.1f ms\t%d\t%d\t%.0f s\t%s\n", r.Name, r.Role, r.Healthy, r.Breaker,
			r.LatencyMS, r.BacklogJobs, r.BacklogBytes, r.OldestJobAgeS, r.Reason)
	}
	return w.Flush()
}

func orUnknown(s string) string {
	if s == "" {
		return "no answer"
	}
	return s
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
