// Package e2e is the end-to-end test of sipws on a real Kubernetes control plane running on
// this machine: etcd, kube-apiserver, kube-controller-manager and kube-scheduler built from Go
// modules (hack/k8s/build-bins.sh), kwok simulating the nodes, helm (hack/e2e/tools.sh)
// installing charts/sipws, and `sipws controller` running as a process against the API server.
//
// The test is behind the e2e build tag so `go test ./...` stays fast; `make e2e` runs it.
package e2e
