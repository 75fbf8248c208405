package etcdstore

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Defaults of the member probes.
const (
	DefaultProbeInterval = 250 * time.Millisecond
	DefaultProbeTimeout  = 250 * time.Millisecond
	// DefaultMemberSyncInterval is how often the member list is read
	// again (what the client's own auto-sync did, which would put back
	// members the probes took out).
	DefaultMemberSyncInterval = time.Minute
	// rejoinAfter is how many answered probes in a row bring a member
	// back, so that one that flaps does not churn the balancer.
	rejoinAfter = 2
)

// members keeps the client's requests off members that do not answer.
//
// The client balances requests round-robin over one connection per
// member, and gRPC learns that a member's packets vanish (a partition) or
// that it stopped (SIGSTOP: its kernel still acknowledges) only when the
// TCP user timeout (the keepalive timeout, 1 s) ends a connection with
// unacknowledged data, or when a keepalive ping goes unanswered, and gRPC
// sends those at most every 10 s. Until then about one request in three
// waits for its own deadline on the silent member, and a session's
// heartbeat that lost two requests that way missed the expiry: healthy
// clients were evicted while another host was cut off. Each member is
// therefore asked for its status on a connection of its own, and one that
// does not answer within ProbeTimeout leaves the balancer until it has
// answered rejoinAfter times in a row. Members that answer but know no
// leader (an election, or a member cut off from its peers but not from
// this client) are used only while no member knows one.
type members struct {
	s *Store

	mu      sync.Mutex
	probers map[string]context.CancelFunc // one per endpoint probed
	state   map[string]*memberState
	active  []string // what the balancer uses now
}

// memberState is what the probes of one member found.
type memberState struct {
	down     bool // left the balancer: it did not answer
	leader   bool // its last answer named a leader
	answered int  // answers in a row
}

// newMembers returns the probes of endpoints, not yet started.
func newMembers(s *Store, endpoints []string) *members {
	return &members{s: s, probers: map[string]context.CancelFunc{}, state: map[string]*memberState{},
		active: slices.Sorted(slices.Values(endpoints))}
}

// Members returns the endpoints the client sends requests to now: the
// members whose probes answered (see Config.ProbeInterval).
func (s *Store) Members() []string {
	s.members.mu.Lock()
	defer s.members.mu.Unlock()
	return slices.Clone(s.members.active)
}

// run probes the members until the store is closed.
func (m *members) run(endpoints []string) {
	s := m.s
	m.follow(endpoints)
	t := time.NewTicker(s.cfg.MemberSyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			m.follow(nil)
			return
		case <-t.C:
		}
		if eps := m.list(); len(eps) > 0 {
			m.follow(eps)
		}
	}
}

// list returns the members' client URLs, or nil if the cluster did not say.
func (m *members) list() []string {
	ctx, cancel := context.WithTimeout(m.s.ctx, 2*m.s.cfg.RequestTimeout)
	defer cancel()
	resp, err := m.s.cli.MemberList(ctx)
	if err != nil {
		return nil
	}
	var eps []string
	for _, mb := range resp.Members {
		if mb.Name != "" && !mb.IsLearner {
			for _, u := range mb.ClientURLs {
				// HOST:PORT, as configured endpoints are written, so a
				// member keeps its prober and its state across syncs
				// (the client takes TLS from its configuration).
				if _, hostPort, ok := strings.Cut(u, "://"); ok {
					u = hostPort
				}
				eps = append(eps, u)
			}
		}
	}
	return eps
}

// follow probes exactly endpoints: it starts probers for new ones and
// stops those of members that left, and updates the balancer.
func (m *members) follow(endpoints []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for ep, stop := range m.probers {
		if !slices.Contains(endpoints, ep) {
			stop()
			delete(m.probers, ep)
			delete(m.state, ep)
		}
	}
	for _, ep := range endpoints {
		if _, ok := m.probers[ep]; !ok {
			ctx, stop := context.WithCancel(m.s.ctx)
			m.probers[ep] = stop
			m.state[ep] = &memberState{leader: true}
			go m.probe(ctx, ep)
		}
	}
	m.balance()
}

// probe checks endpoint ep every probe interval until ctx is done.
func (m *members) probe(ctx context.Context, ep string) {
	cfg := m.s.cfg
	var cli *clientv3.Client
	defer func() {
		if cli != nil {
			cli.Close()
		}
	}()
	t := time.NewTicker(cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if cli == nil {
			// Not at Open: a member down then must not hold up the mount.
			var err error
			cli, err = clientv3.New(clientv3.Config{
				Endpoints: []string{ep}, TLS: cfg.TLS, Username: cfg.Username, Password: cfg.Password,
				DialTimeout: cfg.ProbeTimeout, Logger: quietZap(), Context: ctx,
				// Reconnect soon after a member comes back, not after
				// gRPC's default backoff of up to two minutes.
				DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
					Backoff: backoff.Config{BaseDelay: cfg.ProbeInterval, Multiplier: 1.6, MaxDelay: time.Second},
				})},
			})
			if err != nil {
				cli = nil
				m.report(ep, false, false)
				continue
			}
		}
		// Status is answered by the member itself, without a round of
		// its cluster, so it measures the way to the member, and names
		// the leader the member follows (0: none).
		pctx, cancel := context.WithTimeout(ctx, cfg.ProbeTimeout)
		st, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Status(pctx, &pb.StatusRequest{})
		cancel()
		if ctx.Err() != nil {
			return
		}
		m.report(ep, err == nil, err == nil && st.Leader != 0)
	}
}

// report records one probe of ep and updates the balancer if ep joins or
// leaves it.
func (m *members) report(ep string, answered, leader bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state[ep]
	if st == nil {
		return // no longer probed
	}
	was := *st
	st.leader = answered && leader
	switch {
	case answered:
		st.answered++
		if st.down && st.answered >= rejoinAfter {
			st.down = false
			m.s.log.Info("etcd member answers again: requests go to it too", "member", ep)
		}
	case !st.down:
		st.answered = 0
		st.down = true
		m.s.log.Warn("etcd member does not answer: requests go to the others until it does", "member", ep)
	default:
		st.answered = 0
	}
	if was.down == st.down && was.leader == st.leader {
		return
	}
	m.balance()
	if st.down && !was.down {
		// Watches whose stream went to ep would wait for gRPC to give
		// up on it; they are woken to read again and watch anew.
		m.s.watches.restart()
	}
}

// balance gives the client the members that answer and know a leader;
// if none does, those that answer; if none does, every one: then there is
// nothing better to try.
func (m *members) balance() {
	var led, up, all []string
	for ep, st := range m.state {
		all = append(all, ep)
		if !st.down {
			up = append(up, ep)
			if st.leader {
				led = append(led, ep)
			}
		}
	}
	eps := led
	if len(eps) == 0 {
		eps = up
	}
	if len(eps) == 0 {
		eps = all
	}
	if len(eps) == 0 {
		return
	}
	slices.Sort(eps)
	if slices.Equal(eps, m.active) {
		return
	}
	m.active = eps
	m.s.cli.SetEndpoints(eps...)
}
