package demo

import (
	"encoding/json"
	"time"
)

// Hubble's flow JSON, as `hubble observe -o json` writes it (protojson
// with the proto field names; docs/flow-format.md): only the members a
// Cilium agent fills for an L3/L4 trace or drop event.
type hubbleEvent struct {
	Flow     *hubbleFlow `json:"flow"`
	NodeName string      `json:"node_name"`
	Time     string      `json:"time"`
}

type hubbleFlow struct {
	Time                  string             `json:"time"`
	Verdict               string             `json:"verdict"`
	DropReason            int                `json:"drop_reason,omitempty"`
	IP                    hubbleIP           `json:"IP"`
	L4                    hubbleL4           `json:"l4"`
	Source                *hubbleEndpoint    `json:"source,omitempty"`
	Destination           *hubbleEndpoint    `json:"destination,omitempty"`
	Type                  string             `json:"Type"`
	NodeName              string             `json:"node_name"`
	SourceNames           []string           `json:"source_names,omitempty"`
	DestinationNames      []string           `json:"destination_names,omitempty"`
	EventType             hubbleEventType    `json:"event_type"`
	DestinationService    *hubbleServiceName `json:"destination_service,omitempty"`
	TrafficDirection      string             `json:"traffic_direction"`
	TraceObservationPoint string             `json:"trace_observation_point,omitempty"`
	IsReply               bool               `json:"is_reply"`
	DropReasonDesc        string             `json:"drop_reason_desc,omitempty"`
	Summary               string             `json:"Summary"`
}

type hubbleIP struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	IPVersion   string `json:"ipVersion"`
}

type hubbleL4 struct {
	TCP *hubblePorts `json:"TCP,omitempty"`
	UDP *hubblePorts `json:"UDP,omitempty"`
}

type hubblePorts struct {
	SourcePort      uint16       `json:"source_port"`
	DestinationPort uint16       `json:"destination_port"`
	Flags           *hubbleFlags `json:"flags,omitempty"`
}

type hubbleFlags struct {
	SYN bool `json:"SYN,omitempty"`
	ACK bool `json:"ACK,omitempty"`
	PSH bool `json:"PSH,omitempty"`
}

type hubbleEndpoint struct {
	ID        uint32           `json:"ID,omitempty"`
	Identity  uint32           `json:"identity,omitempty"`
	Namespace string           `json:"namespace,omitempty"`
	Labels    []string         `json:"labels,omitempty"`
	PodName   string           `json:"pod_name,omitempty"`
	Workloads []hubbleWorkload `json:"workloads,omitempty"`
}

type hubbleWorkload struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

type hubbleEventType struct {
	Type    int `json:"type"`
	SubType int `json:"sub_type,omitempty"`
}

type hubbleServiceName struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

// Cilium's monitor event types and the drop reason of a policy denial.
const (
	eventDrop        = 1
	eventTrace       = 4
	dropPolicyDenied = 133
)

// record is one flow event at its time.
type record struct {
	at    time.Time
	event hubbleEvent
}

func (r *record) marshal() ([]byte, error) {
	ts := r.at.UTC().Format(time.RFC3339Nano)
	r.event.Time, r.event.Flow.Time = ts, ts
	return json.Marshal(&r.event)
}
