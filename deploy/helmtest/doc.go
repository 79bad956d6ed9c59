// Package helmtest renders the Helm chart deploy/helm/tickcompact with the
// Helm v4 SDK, as `helm template` does, for its default values and the value
// files in testdata/, and holds every manifest to what the services need: it
// decodes each one strictly into the Kubernetes API types (an unknown field
// is an error), runs the services' own configuration loading on each pod's
// ConfigMap file, arguments and environment, checks that the probes reach
// the services' real endpoints, that nothing pins an instance, that secrets
// are only referenced, and that the PrometheusRule carries the alert rules
// file as it is.
//
// It is a module of its own so that Helm and the Kubernetes libraries never
// enter the services' go.mod. No cluster is needed, or used: see
// docs/kubernetes.md for what this proves and what it cannot.
package helmtest
