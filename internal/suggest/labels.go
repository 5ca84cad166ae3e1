package suggest

import "strings"

// VolatileLabels are pod labels controllers set per revision, per pod or
// per run: a policy selecting by them stops matching after the next rollout.
var VolatileLabels = []string{
	"pod-template-hash",
	"controller-revision-hash",
	"statefulset.kubernetes.io/pod-name",
	"apps.kubernetes.io/pod-index",
	"pod-template-generation",
	"controller-uid",
	"batch.kubernetes.io/controller-uid",
	"job-name",
	"batch.kubernetes.io/job-name",
	"batch.kubernetes.io/job-completion-index",
}

// jobNameLabels are stable for a Job without a CronJob parent.
var jobNameLabels = map[string]bool{"job-name": true, "batch.kubernetes.io/job-name": true}

// StableLabels returns the labels of a workload's pods a policy can select
// by: labels without the volatile ones. A Job keeps its job-name labels.
func StableLabels(kind string, labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		if isVolatile(k) && !(kind == "Job" && jobNameLabels[k]) {
			continue
		}
		out[k] = v
	}
	return out
}

func isVolatile(key string) bool {
	for _, v := range VolatileLabels {
		if key == v {
			return true
		}
	}
	return strings.HasSuffix(key, "/controller-uid")
}
