package analyze

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redline-dev/redline/internal/netpol"
)

func shopInput() Input {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	p80, p53 := intstr.FromInt32(80), intstr.FromInt32(53)
	httpPort := intstr.FromString("http")
	web := &netpol.Workload{Namespace: "shop", Kind: "Deployment", Name: "web", Labels: map[string]string{"app": "web"},
		Ports: []netpol.ContainerPort{{Name: "http", Port: 8080, Protocol: tcp}}}
	api := &netpol.Workload{Namespace: "shop", Kind: "Deployment", Name: "api", Labels: map[string]string{"app": "api"}}
	db := &netpol.Workload{Namespace: "data", Kind: "StatefulSet", Name: "db", Labels: map[string]string{"app": "db"}}
	return Input{
		Namespaces: []netpol.Namespace{{Name: "shop"}, {Name: "data", Labels: map[string]string{"tier": "data"}}},
		Workloads:  []*netpol.Workload{web, api, db},
		Options:    netpol.DefaultOptions(),
		Policies: []*networkingv1.NetworkPolicy{
			{
				ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
				Spec: networkingv1.NetworkPolicySpec{
					PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
					Ingress: []networkingv1.NetworkPolicyIngressRule{{
						Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &httpPort}},
					}},
					Egress: []networkingv1.NetworkPolicyEgressRule{
						{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}}}},
							Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &p80}}},
						{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &p53}}},
						{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "203.0.113.0/24", Except: []string{"203.0.113.128/25"}}}}},
					},
				},
			},
			{
				ObjectMeta: metav1.ObjectMeta{Namespace: "data", Name: "db"},
				Spec: networkingv1.NetworkPolicySpec{
					PodSelector: metav1.LabelSelector{},
					Ingress: []networkingv1.NetworkPolicyIngressRule{{
						From: []networkingv1.NetworkPolicyPeer{{
							NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{netpol.NamespaceNameLabel: "shop"}},
							PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
						}},
					}},
				},
			},
		},
	}
}

func TestRunReport(t *testing.T) {
	got, err := Run(shopInput(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range got {
		lines = append(lines, c.Src+" => "+c.Dst+" : "+c.Conn)
	}
	want := []string{
		"data/db[StatefulSet] => shop/api[Deployment] : All Connections",
		"data/db[StatefulSet] => shop/web[Deployment] : TCP 8080",
		"data/db[StatefulSet] => 0.0.0.0-255.255.255.255[External] : All Connections",
		"shop/api[Deployment] => data/db[StatefulSet] : All Connections",
		"shop/api[Deployment] => shop/web[Deployment] : TCP 8080",
		"shop/api[Deployment] => 0.0.0.0-255.255.255.255[External] : All Connections",
		"shop/web[Deployment] => shop/api[Deployment] : TCP 80,UDP 53",
		"shop/web[Deployment] => 0.0.0.0-203.0.112.255[External] : UDP 53",
		"shop/web[Deployment] => 203.0.113.0-203.0.113.127[External] : All Connections",
		"shop/web[Deployment] => 203.0.113.128-255.255.255.255[External] : UDP 53",
		"0.0.0.0-255.255.255.255[External] => shop/api[Deployment] : All Connections",
		"0.0.0.0-255.255.255.255[External] => shop/web[Deployment] : TCP 8080",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("report:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestRunFocusAndExplain(t *testing.T) {
	got, err := Run(shopInput(), Options{Focus: "data/db[StatefulSet]", Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	var denied *Connection
	for i, c := range got {
		if c.Src != "data/db[StatefulSet]" && c.Dst != "data/db[StatefulSet]" {
			t.Errorf("focus leaked pair %s => %s", c.Src, c.Dst)
		}
		if c.Explanation == nil {
			t.Fatalf("pair %s => %s has no explanation", c.Src, c.Dst)
		}
		if c.Src == "shop/web[Deployment]" && c.Dst == "data/db[StatefulSet]" {
			denied = &got[i]
		}
	}
	if denied == nil {
		t.Fatal("web => db missing from the explained report")
	}
	text := denied.Explanation.Text()
	for _, want := range []string{"isolated by data/db", "data/db ingress[0]: no peer in from matches shop/web[Deployment]", "shop/web egress[1] allows UDP 53"} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}

	if _, err := Run(shopInput(), Options{Focus: "shop/nope"}); !errors.Is(err, ErrFocusNotFound) {
		t.Errorf("unknown focus: err = %v, want ErrFocusNotFound", err)
	}
	if _, err := Run(shopInput(), Options{Focus: "nonsense"}); err == nil {
		t.Error("malformed focus accepted")
	}
}

func TestRunRejectsInvalidPolicy(t *testing.T) {
	in := shopInput()
	in.Policies[0].Spec.Egress[2].To[0].IPBlock.Except = []string{"10.0.0.0/8"}
	_, err := Run(in, Options{})
	if err == nil || !strings.Contains(err.Error(), "networkpolicy shop/web") || !strings.Contains(err.Error(), "spec.egress[2].to[0].ipBlock.except[0]") {
		t.Fatalf("err = %v, want a validation error naming the policy and field", err)
	}
}
