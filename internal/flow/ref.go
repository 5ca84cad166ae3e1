package flow

import (
	"fmt"
	"strings"
)

// ParseWorkloadRef parses "namespace/Kind/name" as people type it: the kind
// in any case or kubectl's short forms (deploy, ds, sts, cj, rs, po).
func ParseWorkloadRef(s string) (Endpoint, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return Endpoint{}, fmt.Errorf("invalid workload %q: want namespace/Kind/name, e.g. shop/Deployment/frontend", s)
	}
	kind := canonicalKind(parts[1])
	if kind == "" {
		return Endpoint{}, fmt.Errorf("invalid workload kind %q: use Deployment, DaemonSet, StatefulSet, CronJob, Job, ReplicaSet or Pod", parts[1])
	}
	return WorkloadEndpoint(parts[0], kind, parts[2]), nil
}

func canonicalKind(k string) string {
	for _, kind := range []string{"Deployment", "DaemonSet", "StatefulSet", "CronJob", "Job", "ReplicaSet", "Pod"} {
		if strings.EqualFold(k, kind) {
			return kind
		}
	}
	switch strings.ToLower(k) {
	case "deploy", "deployments":
		return "Deployment"
	case "ds", "daemonsets":
		return "DaemonSet"
	case "sts", "statefulsets":
		return "StatefulSet"
	case "cj", "cronjobs":
		return "CronJob"
	case "jobs":
		return "Job"
	case "rs", "replicasets":
		return "ReplicaSet"
	case "po", "pods":
		return "Pod"
	}
	return ""
}
