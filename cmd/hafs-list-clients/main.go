// Command hafs-list-clients lists the clients (mounts) of a HAFS filesystem.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hafs/hafs/cmd/internal/cliutil"
	"github.com/hafs/hafs/meta"
)

// client is one row, as printed with --json.
type client struct {
	ID              string  `json:"id"`
	Hostname        string  `json:"hostname"`
	Pid             int     `json:"pid"`
	Mountpoint      string  `json:"mountpoint"`
	Version         string  `json:"version"`
	AgeS            float64 `json:"age_s"`
	SinceHeartbeatS float64 `json:"since_heartbeat_s"`
	Heartbeats      uint64  `json:"heartbeats"`
	Locks           int     `json:"locks"`
	Metrics         string  `json:"metrics"` // its /metrics and /healthz address
}

func main() {
	cliutil.Run(cliutil.Examples(&cli.App{
		Name:      "hafs-list-clients",
		Usage:     "list the clients mounting a HAFS filesystem",
		UsageText: "hafs-list-clients [--store URL] [--name NAME] [--json]",
		Description: "Prints one row per registered client session: id, hostname, pid, mount point,\n" +
			"version, age, seconds since its last heartbeat, locks held and the address of its\n" +
			"/metrics and /healthz endpoints. Ages come from the clients' own wall clocks and\n" +
			"are for display; liveness is decided by heartbeat progress, never by comparing\n" +
			"clocks.",
		Flags: append(cliutil.StoreFlags(), &cli.BoolFlag{Name: "json", Usage: "print a JSON array"}),
		Action: cliutil.WithFS(func(c *cli.Context, m *meta.FS) error {
			sessions, err := m.Sessions(c.Context)
			if err != nil {
				return err
			}
			counts, err := cliutil.LockCounts(c.Context, m, sessions)
			if err != nil {
				return err
			}
			now := time.Now()
			rows := make([]client, 0, len(sessions))
			for i, ss := range sessions {
				rows = append(rows, client{ID: ss.ID, Hostname: ss.Hostname, Pid: ss.Pid, Mountpoint: ss.Mountpoint,
					Version: ss.Version, AgeS: secs(now.Sub(ss.Start)), SinceHeartbeatS: secs(now.Sub(ss.LastBeat)),
					Heartbeats: ss.Beats, Locks: counts[i], Metrics: ss.Metrics})
			}
			if c.Bool("json") {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tHOSTNAME\tPID\tMOUNTPOINT\tVERSION\tAGE\tHEARTBEAT\tLOCKS\tMETRICS")
			for _, r := range rows {
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%.0fs\t%.1fs ago\t%d\t%s\n", r.ID, r.Hostname, r.Pid, r.Mountpoint,
					r.Version, r.AgeS, r.SinceHeartbeatS, r.Locks, orNone(r.Metrics))
			}
			return w.Flush()
		}),
	}, map[string][]string{"": {
		"hafs-list-clients",
		"hafs-list-clients --store etcd://10.0.0.1:2379/hafs --name projects --json",
	}}))
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func secs(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }
