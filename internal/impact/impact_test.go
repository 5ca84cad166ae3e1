package impact_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/impact"
	"github.com/redline-dev/redline/internal/netpol"
)

// The shop cluster: shop's web calls api, api calls db (whose policy
// admits only api), api calls pay's gateway (which admits team=shop), web
// calls out to the internet; other's client calls web directly and api
// through its Service; a deleted workload and a node show up in traffic.

var seen = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func tcpPort(port int32) networkingv1.NetworkPolicyPort {
	p, v := corev1.ProtocolTCP, intstr.FromInt32(port)
	return networkingv1.NetworkPolicyPort{Protocol: &p, Port: &v}
}

func sel(kv ...string) *metav1.LabelSelector {
	s := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

func policy(ns, name string, podSelector *metav1.LabelSelector, mutate func(*networkingv1.NetworkPolicySpec)) *networkingv1.NetworkPolicy {
	p := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	p.Spec.PodSelector = *podSelector
	if mutate != nil {
		mutate(&p.Spec)
	}
	return p
}

func allowFromShop(team string) *networkingv1.NetworkPolicy {
	return policy("pay", "allow-from-shop", sel("app", "gateway"), func(s *networkingv1.NetworkPolicySpec) {
		s.Ingress = []networkingv1.NetworkPolicyIngressRule{{
			From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel("team", team)}},
			Ports: []networkingv1.NetworkPolicyPort{tcpPort(443)},
		}}
	})
}

func dbAllowAPI(from string, port int32) *networkingv1.NetworkPolicy {
	return policy("shop", "db-allow-api", sel("app", "db"), func(s *networkingv1.NetworkPolicySpec) {
		s.Ingress = []networkingv1.NetworkPolicyIngressRule{{
			From:  []networkingv1.NetworkPolicyPeer{{PodSelector: sel("app", from)}},
			Ports: []networkingv1.NetworkPolicyPort{tcpPort(port)},
		}}
	})
}

func shopCluster() impact.Cluster {
	wl := func(ns, kind, name string, ports ...netpol.ContainerPort) *netpol.Workload {
		return &netpol.Workload{Namespace: ns, Kind: kind, Name: name, Labels: map[string]string{"app": name}, Ports: ports}
	}
	http := netpol.ContainerPort{Name: "http", Port: 8080}
	return impact.Cluster{
		Namespaces: []netpol.Namespace{
			{Name: "shop", Labels: map[string]string{"team": "shop"}},
			{Name: "pay", Labels: map[string]string{"team": "pay"}},
			{Name: "other", Labels: map[string]string{"team": "other"}},
		},
		Workloads: []*netpol.Workload{
			wl("shop", "Deployment", "web", http),
			wl("shop", "Deployment", "api", http),
			wl("shop", "StatefulSet", "db"),
			wl("shop", "Deployment", "idle"),
			wl("pay", "Deployment", "gateway"),
			wl("other", "Deployment", "client"),
		},
		Policies: []*networkingv1.NetworkPolicy{allowFromShop("shop"), dbAllowAPI("api", 5432)},
		Services: []impact.Service{{Namespace: "shop", Name: "api", Selector: map[string]string{"app": "api"}}},
		Options:  netpol.DefaultOptions(),
	}
}

func edge(src, dst flow.Endpoint, port uint16, count uint64) flow.Edge {
	e := flow.Edge{EdgeKey: flow.EdgeKey{Src: src, Dst: dst, Protocol: flow.ProtocolTCP, Port: port}}
	e.Count, e.FirstSeen, e.LastSeen = count, seen.Add(-time.Hour), seen
	return e
}

var (
	web     = flow.WorkloadEndpoint("shop", "Deployment", "web")
	api     = flow.WorkloadEndpoint("shop", "Deployment", "api")
	db      = flow.WorkloadEndpoint("shop", "StatefulSet", "db")
	gone    = flow.WorkloadEndpoint("shop", "Deployment", "gone")
	apiSvc  = flow.WorkloadEndpoint("shop", impact.ServiceKind, "api")
	gateway = flow.WorkloadEndpoint("pay", "Deployment", "gateway")
	client  = flow.WorkloadEndpoint("other", "Deployment", "client")
	node    = flow.Endpoint{Kind: flow.EndpointNode, Name: "node-1"}
	world   = flow.Endpoint{Kind: flow.EndpointAddress, Addr: netip.MustParseAddr("203.0.113.7"), Class: flow.ClassExternal}
)

func shopEdges() []flow.Edge {
	dropped := edge(web, db, 5432, 5)
	dropped.Verdicts[flow.VerdictDropped] = 5
	return []flow.Edge{
		edge(web, api, 8080, 100),
		edge(client, web, 8080, 50),
		edge(api, db, 5432, 30),
		dropped,
		edge(api, gateway, 443, 20),
		edge(web, world, 443, 10),
		edge(client, apiSvc, 8080, 7),
		edge(gone, api, 8080, 3),
		edge(node, web, 8080, 2),
	}
}

// names renders connections as "src -> dst port".
func names(cs []impact.Connection) []string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s -> %s %d", c.Src, c.Dst, c.Port))
	}
	return out
}

func TestPolicyChange(t *testing.T) {
	denyAll := policy("shop", "deny-all", sel(), func(s *networkingv1.NetworkPolicySpec) {
		s.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	})
	allowWebIngress := policy("shop", "web-open", sel("app", "web"), func(s *networkingv1.NetworkPolicySpec) {
		s.Ingress = []networkingv1.NetworkPolicyIngressRule{{}}
	})
	webEgressToAPI := policy("shop", "web-egress", sel("app", "web"), func(s *networkingv1.NetworkPolicySpec) {
		s.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
		s.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: sel("app", "api")}}}}
	})
	idleDeny := policy("shop", "idle-deny", sel("app", "idle"), nil)
	nothing := policy("shop", "nothing", sel("app", "nothing"), nil)

	tests := []struct {
		name                        string
		change                      impact.Change
		red, green, staysRed        []string
		selected                    []string
		unknown                     bool
		reason                      string // substring
		evaluated                   int
		explainRed                  string // a policy TurnsRed[0] names
		unobserved                  []string
		redExpanded, redFromService bool
	}{
		{
			name:   "create deny-all turns the namespace's traffic red",
			change: impact.Change{Operation: impact.Create, New: denyAll},
			red: []string{
				"shop/web[Deployment] -> shop/api[Deployment] 8080",
				"other/client[Deployment] -> shop/web[Deployment] 8080",
				"shop/api[Deployment] -> shop/db[StatefulSet] 5432",
				"shop/api[Deployment] -> pay/gateway[Deployment] 443",
				"shop/web[Deployment] -> 203.0.113.7 443",
				"other/client[Deployment] -> shop/api[Deployment] 8080",
				"node-1[Node] -> shop/web[Deployment] 8080",
			},
			staysRed:   []string{"shop/web[Deployment] -> shop/db[StatefulSet] 5432"},
			selected:   []string{"shop/api[Deployment]", "shop/db[StatefulSet]", "shop/idle[Deployment]", "shop/web[Deployment]"},
			unobserved: []string{"shop/idle[Deployment]"},
			evaluated:  8,
			explainRed: "shop/deny-all",
		},
		{
			name:      "harmless policy: nothing turns red",
			change:    impact.Change{Operation: impact.Create, New: allowWebIngress},
			selected:  []string{"shop/web[Deployment]"},
			evaluated: 2, // web -> api does not count: web-open is ingress only
		},
		{
			name:       "update narrowing a port",
			change:     impact.Change{Operation: impact.Update, Old: dbAllowAPI("api", 5432), New: dbAllowAPI("api", 5433)},
			red:        []string{"shop/api[Deployment] -> shop/db[StatefulSet] 5432"},
			staysRed:   []string{"shop/web[Deployment] -> shop/db[StatefulSet] 5432"},
			selected:   []string{"shop/db[StatefulSet]"},
			evaluated:  2,
			explainRed: "shop/db-allow-api",
		},
		{
			name:      "delete turns green",
			change:    impact.Change{Operation: impact.Delete, Old: dbAllowAPI("api", 5432)},
			green:     []string{"shop/web[Deployment] -> shop/db[StatefulSet] 5432"},
			selected:  []string{"shop/db[StatefulSet]"},
			evaluated: 2,
		},
		{
			name:       "update admitting another app: stays red",
			change:     impact.Change{Operation: impact.Update, Old: dbAllowAPI("api", 5432), New: dbAllowAPI("cache", 5432)},
			red:        []string{"shop/api[Deployment] -> shop/db[StatefulSet] 5432"},
			staysRed:   []string{"shop/web[Deployment] -> shop/db[StatefulSet] 5432"},
			selected:   []string{"shop/db[StatefulSet]"},
			evaluated:  2,
			explainRed: "shop/db-allow-api",
		},
		{
			name:       "no traffic for the selected workload: impact unknown",
			change:     impact.Change{Operation: impact.Create, New: idleDeny},
			selected:   []string{"shop/idle[Deployment]"},
			unobserved: []string{"shop/idle[Deployment]"},
			unknown:    true,
			reason:     "no traffic observed for shop/idle[Deployment] in the last 7d: impact unknown",
		},
		{
			name:   "selects no pods",
			change: impact.Change{Operation: impact.Create, New: nothing},
			reason: "selects no pods",
		},
		{
			name:       "egress side",
			change:     impact.Change{Operation: impact.Create, New: webEgressToAPI},
			red:        []string{"shop/web[Deployment] -> 203.0.113.7 443"},
			staysRed:   []string{"shop/web[Deployment] -> shop/db[StatefulSet] 5432"},
			selected:   []string{"shop/web[Deployment]"},
			evaluated:  3,
			explainRed: "shop/web-egress",
		},
		{
			name:       "cross-namespace peer with a namespaceSelector",
			change:     impact.Change{Operation: impact.Update, Old: allowFromShop("shop"), New: allowFromShop("other")},
			red:        []string{"shop/api[Deployment] -> pay/gateway[Deployment] 443"},
			selected:   []string{"pay/gateway[Deployment]"},
			evaluated:  1,
			explainRed: "pay/allow-from-shop",
		},
	}
	a, err := impact.NewAnalyzer(shopCluster(), impact.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			imp, err := a.PolicyChange(context.Background(), tt.change, shopEdges())
			if err != nil {
				t.Fatal(err)
			}
			check(t, "TurnsRed", names(imp.TurnsRed), tt.red)
			check(t, "TurnsGreen", names(imp.TurnsGreen), tt.green)
			check(t, "StaysRed", names(imp.StaysRed), tt.staysRed)
			check(t, "Selected", imp.Selected, tt.selected)
			check(t, "Unobserved", imp.Unobserved, tt.unobserved)
			if imp.Unknown != tt.unknown {
				t.Errorf("Unknown = %v, want %v (%s)", imp.Unknown, tt.unknown, imp.Reason)
			}
			if tt.reason == "" && imp.Reason != "" || !strings.Contains(imp.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to say %q", imp.Reason, tt.reason)
			}
			if imp.Evaluated != tt.evaluated {
				t.Errorf("Evaluated = %d, want %d", imp.Evaluated, tt.evaluated)
			}
			if tt.explainRed != "" {
				ex := imp.TurnsRed[0].Explanation
				if ex == nil || ex.Allowed || !strings.Contains(ex.Text(), tt.explainRed) {
					t.Errorf("explanation of %s does not deny it naming %s:\n%+v", names(imp.TurnsRed[:1]), tt.explainRed, ex)
				}
			}
			for _, c := range slices.Concat(imp.TurnsRed, imp.TurnsGreen, imp.StaysRed) {
				if c.Explanation == nil {
					t.Errorf("%s -> %s: no explanation", c.Src, c.Dst)
				}
			}
			for _, c := range imp.TurnsGreen {
				if c.Explanation.Allowed {
					t.Errorf("%s -> %s turns green: want the current set's denial explained", c.Src, c.Dst)
				}
			}
		})
	}
}

func check(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

func TestPolicyChangeDetails(t *testing.T) {
	a, err := impact.NewAnalyzer(shopCluster(), impact.Options{})
	if err != nil {
		t.Fatal(err)
	}
	denyAll := policy("shop", "deny-all", sel(), nil)
	imp, err := a.PolicyChange(context.Background(), impact.Change{Operation: impact.Create, New: denyAll}, shopEdges())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("deleted workload skipped", func(t *testing.T) {
		want := []impact.Skip{{Endpoint: gone, Reason: "workload not in the cluster (deleted?)", Edges: 1, Count: 3}}
		if !slices.Equal(imp.Skipped, want) {
			t.Errorf("Skipped = %+v, want %+v", imp.Skipped, want)
		}
	})
	t.Run("Service endpoint expanded to its backends", func(t *testing.T) {
		i := slices.IndexFunc(imp.TurnsRed, func(c impact.Connection) bool { return c.Src == client && c.Expanded })
		if i < 0 {
			t.Fatalf("no expanded connection from client in %q", names(imp.TurnsRed))
		}
		c := imp.TurnsRed[i]
		if c.Dst != api || c.Count != 7 || c.Service == nil || *c.Service != (flow.ServiceRef{Namespace: "shop", Name: "api"}) {
			t.Errorf("got %+v, want client -> api through Service shop/api, 7 connections", c)
		}
	})
	t.Run("counts, times and drops carried", func(t *testing.T) {
		c := imp.StaysRed[0]
		if c.Count != 5 || c.ObservedDropped != 5 || !c.LastSeen.Equal(seen) || c.Protocol != flow.ProtocolTCP {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("explanation names the endpoints as flows do", func(t *testing.T) {
		c := imp.TurnsRed[len(imp.TurnsRed)-1]
		if c.Src != node || c.Explanation.Src != "node-1[Node]" || !c.Explanation.Egress.Allowed || !c.Explanation.Ingress.Subject {
			t.Errorf("got %+v\n%s", c, c.Explanation.Text())
		}
	})
	t.Run("explanations bounded", func(t *testing.T) {
		b, err := impact.NewAnalyzer(shopCluster(), impact.Options{MaxExplained: 2})
		if err != nil {
			t.Fatal(err)
		}
		imp, err := b.PolicyChange(context.Background(), impact.Change{Operation: impact.Create, New: denyAll}, shopEdges())
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range imp.TurnsRed {
			if (c.Explanation != nil) != (i < 2) {
				t.Errorf("TurnsRed[%d] explained: %v", i, c.Explanation != nil)
			}
		}
	})
	t.Run("policy missing from the cluster snapshot", func(t *testing.T) {
		// The API server has a policy the snapshot lacks: deleting it
		// turns green what it denied.
		extra := policy("shop", "web-deny", sel("app", "web"), nil)
		imp, err := a.PolicyChange(context.Background(), impact.Change{Operation: impact.Delete, Old: extra}, shopEdges())
		if err != nil {
			t.Fatal(err)
		}
		check(t, "TurnsGreen", names(imp.TurnsGreen), []string{
			"other/client[Deployment] -> shop/web[Deployment] 8080",
			"node-1[Node] -> shop/web[Deployment] 8080",
		})
	})
}

func TestPolicyChangeErrors(t *testing.T) {
	a, err := impact.NewAnalyzer(shopCluster(), impact.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bad := policy("shop", "bad", sel(), func(s *networkingv1.NetworkPolicySpec) {
		s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/33"}}}}}
	})
	tests := []struct {
		name   string
		change impact.Change
		want   error
	}{
		{"invalid policy", impact.Change{Operation: impact.Create, New: bad}, netpol.ErrInvalidPolicy},
		{"create without policy", impact.Change{Operation: impact.Create}, impact.ErrInvalidChange},
		{"delete without policy", impact.Change{Operation: impact.Delete}, impact.ErrInvalidChange},
		{"unknown operation", impact.Change{Operation: "CONNECT", New: dbAllowAPI("api", 1)}, impact.ErrInvalidChange},
		{"update renaming", impact.Change{Operation: impact.Update, Old: allowFromShop("x"), New: dbAllowAPI("api", 1)}, impact.ErrInvalidChange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.PolicyChange(context.Background(), tt.change, shopEdges())
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	var invalid *netpol.InvalidPolicyError
	if _, err := a.PolicyChange(context.Background(), tests[0].change, nil); !errors.As(err, &invalid) || invalid.Name != "bad" {
		t.Errorf("err = %v, want an *netpol.InvalidPolicyError for shop/bad", err)
	}
}

// A request out of budget stops the analysis rather than finishing it in
// the background.
func TestPolicyChangeCancelled(t *testing.T) {
	a, err := impact.NewAnalyzer(shopCluster(), impact.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	denyAll := policy("shop", "deny-all", sel(), nil)
	if _, err := a.PolicyChange(ctx, impact.Change{Operation: impact.Create, New: denyAll}, shopEdges()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled PolicyChange: err = %v, want context.Canceled", err)
	}
	if imp, err := a.PolicyChange(context.Background(), impact.Change{Operation: impact.Create, New: denyAll}, shopEdges()); err != nil || len(imp.TurnsRed) == 0 {
		t.Errorf("the same change with time left: %v, %d red; want red connections", err, len(imp.TurnsRed))
	}
}

func TestNamespaceRelabel(t *testing.T) {
	tests := []struct {
		name          string
		relabel       impact.NamespaceRelabel
		red, green    []string
		policies      []string
		reason        string
		unknown       bool
		evaluated     int
		explainRedPol string
	}{
		{
			name:          "relabel turns red",
			relabel:       impact.NamespaceRelabel{Name: "shop", NewLabels: map[string]string{"team": "other"}},
			red:           []string{"shop/api[Deployment] -> pay/gateway[Deployment] 443"},
			policies:      []string{"pay/allow-from-shop"},
			evaluated:     1,
			explainRedPol: "pay/allow-from-shop",
		},
		{
			name:      "relabel turns green",
			relabel:   impact.NamespaceRelabel{Name: "shop", OldLabels: map[string]string{"team": "x"}, NewLabels: map[string]string{"team": "shop"}},
			green:     []string{"shop/api[Deployment] -> pay/gateway[Deployment] 443"},
			policies:  []string{"pay/allow-from-shop"},
			evaluated: 1,
		},
		{
			name:    "label no selector reads",
			relabel: impact.NamespaceRelabel{Name: "shop", NewLabels: map[string]string{"team": "shop", "cost-center": "42"}},
			reason:  "no namespaceSelector tells the old labels from the new",
		},
		{
			name:     "no traffic with the sensitive side",
			relabel:  impact.NamespaceRelabel{Name: "other", NewLabels: map[string]string{"team": "shop"}},
			policies: []string{"pay/allow-from-shop"},
			unknown:  true,
			reason:   "impact unknown",
		},
	}
	a, err := impact.NewAnalyzer(shopCluster(), impact.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			imp, err := a.NamespaceRelabel(context.Background(), tt.relabel, shopEdges())
			if err != nil {
				t.Fatal(err)
			}
			check(t, "TurnsRed", names(imp.TurnsRed), tt.red)
			check(t, "TurnsGreen", names(imp.TurnsGreen), tt.green)
			check(t, "Policies", imp.Policies, tt.policies)
			if imp.Unknown != tt.unknown || !strings.Contains(imp.Reason, tt.reason) || (tt.reason == "" && imp.Reason != "") {
				t.Errorf("Unknown, Reason = %v, %q; want %v, %q", imp.Unknown, imp.Reason, tt.unknown, tt.reason)
			}
			if imp.Evaluated != tt.evaluated {
				t.Errorf("Evaluated = %d, want %d", imp.Evaluated, tt.evaluated)
			}
			if tt.explainRedPol != "" {
				ex := imp.TurnsRed[0].Explanation
				if ex == nil || ex.Allowed || !strings.Contains(ex.Text(), tt.explainRedPol) {
					t.Errorf("explanation does not deny naming %s: %+v", tt.explainRedPol, ex)
				}
			}
		})
	}
	if _, err := a.NamespaceRelabel(context.Background(), impact.NamespaceRelabel{}, nil); !errors.Is(err, impact.ErrInvalidChange) {
		t.Errorf("relabel without name: err = %v", err)
	}
}

// TestTurnsRedOnly: with Options.TurnsRedOnly the impact is the one
// without, less the TurnsGreen and StaysRed lists.
func TestTurnsRedOnly(t *testing.T) {
	s := benchWorld()
	all, err := impact.NewAnalyzer(s.cluster, impact.Options{MaxConnections: 20, MaxExplained: 20})
	if err != nil {
		t.Fatal(err)
	}
	red, err := impact.NewAnalyzer(s.cluster, impact.Options{MaxConnections: 20, MaxExplained: 20, TurnsRedOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for name, ch := range benchChanges(s) {
		want, err := all.PolicyChange(t.Context(), ch, s.edges)
		if err != nil {
			t.Fatal(err)
		}
		got, err := red.PolicyChange(t.Context(), ch, s.edges)
		if err != nil {
			t.Fatal(err)
		}
		if len(want.StaysRed)+len(want.TurnsGreen) == 0 {
			t.Errorf("%s: no other list to leave out", name)
		}
		want.TurnsGreen, want.StaysRed = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: TurnsRedOnly gave\n%+v\nwant\n%+v", name, got, want)
		}
	}
}

// TestBriefExplanations: with Options.BriefExplanations the impact is the
// one without, less the rules in each explanation.
func TestBriefExplanations(t *testing.T) {
	s := benchWorld()
	full, err := impact.NewAnalyzer(s.cluster, impact.Options{MaxConnections: 20, MaxExplained: 20})
	if err != nil {
		t.Fatal(err)
	}
	brief, err := impact.NewAnalyzer(s.cluster, impact.Options{MaxConnections: 20, MaxExplained: 20, BriefExplanations: true})
	if err != nil {
		t.Fatal(err)
	}
	for name, ch := range benchChanges(s) {
		want, err := full.PolicyChange(t.Context(), ch, s.edges)
		if err != nil {
			t.Fatal(err)
		}
		got, err := brief.PolicyChange(t.Context(), ch, s.edges)
		if err != nil {
			t.Fatal(err)
		}
		explained := 0
		for _, list := range [][]impact.Connection{want.TurnsRed, want.TurnsGreen, want.StaysRed} {
			for i := range list {
				if ex := list[i].Explanation; ex != nil {
					explained++
					ex.Egress.Rules, ex.Ingress.Rules = nil, nil
				}
			}
		}
		if explained == 0 {
			t.Errorf("%s: nothing explained", name)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: BriefExplanations gave\n%+v\nwant\n%+v", name, got, want)
		}
	}
}

func TestChangeFor(t *testing.T) {
	cur := denyAllOf("shop", "deny")
	other := denyAllOf("bank", "deny")
	proposed := denyAllOf("shop", "deny")
	fresh := denyAllOf("shop", "new")
	current := []*networkingv1.NetworkPolicy{other, cur}
	for _, tc := range []struct {
		p    *networkingv1.NetworkPolicy
		del  bool
		want impact.Change
	}{
		{proposed, false, impact.Change{Operation: impact.Update, Old: cur, New: proposed}},
		{fresh, false, impact.Change{Operation: impact.Create, New: fresh}},
		{proposed, true, impact.Change{Operation: impact.Delete, Old: cur}},
		{fresh, true, impact.Change{Operation: impact.Delete, Old: fresh}},
	} {
		if got := impact.ChangeFor(current, tc.p, tc.del); got != tc.want {
			t.Errorf("ChangeFor(%s/%s, delete %v) = %+v, want %+v", tc.p.Namespace, tc.p.Name, tc.del, got, tc.want)
		}
	}
}
