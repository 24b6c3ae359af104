// Package render turns a SipWebSocketGateway into the objects that run it. Every function is
// pure: the same gateway and Inputs give the same objects, byte for byte, so the reconciler
// can apply them blindly and golden files can pin them.
package render

import (
	"strings"
)

// Component is one of the two workloads of a gateway.
type Component string

// Components.
const (
	Edge   Component = "edge"
	Router Component = "router"
)

// Labels. Selectors are built from these fixed labels only, never from user labels, so a
// user label change cannot orphan pods or make a Service select someone else's.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelGateway names the owning gateway on every child; the reconciler lists children by it.
	LabelGateway = "sipws.io/gateway"

	AppName   = "sipws"
	ManagedBy = "sipws-controller"
)

// Annotations.
const (
	// AnnotationRolloutHash is on the pod template: a hash of exactly what the data plane only
	// reads at start-up (listener ports, images, NATS connection, flow-token keys). A change of
	// anything else reaches running pods through the mounted files and leaves the template alone.
	AnnotationRolloutHash = "sipws.io/rollout-hash"
	// AnnotationConfigHash is on the ConfigMap and the files Secret (not the pod template): a
	// hash of their content, for humans and tests.
	AnnotationConfigHash = "sipws.io/config-hash"
)

// Names of the children of gateway name.
func ConfigMapName(gw string) string       { return gw + "-config" }
func FilesSecretName(gw string) string     { return gw + "-files" }
func FlowTokenSecretName(gw string) string { return gw + "-flow-token" }
func DeploymentName(gw string, c Component) string {
	return gw + "-" + string(c)
}
func ServiceName(gw string, c Component) string { return gw + "-" + string(c) }
func HPAName(gw string, c Component) string     { return gw + "-" + string(c) }
func PDBName(gw string, c Component) string     { return gw + "-" + string(c) }

// SelectorLabels select the pods of one component of one gateway.
func SelectorLabels(gw string, c Component) map[string]string {
	return map[string]string{
		LabelName:      AppName,
		LabelInstance:  gw,
		LabelComponent: string(c),
	}
}

// Labels are put on every child: the selector labels (without a component for shared
// objects) plus managed-by and the gateway label.
func Labels(gw string, c Component) map[string]string {
	l := map[string]string{
		LabelName:      AppName,
		LabelInstance:  gw,
		LabelManagedBy: ManagedBy,
		LabelGateway:   gw,
	}
	if c != "" {
		l[LabelComponent] = string(c)
	}
	return l
}

// GatewayToken is the gateway's NATS subject token: namespace and name joined by '_' (which
// Kubernetes names cannot contain, so it is unambiguous), dots mapped to '-'. Two gateways of
// the same name in different namespaces sharing a NATS cluster do not see each other's traffic.
func GatewayToken(namespace, name string) string {
	return strings.ReplaceAll(namespace, ".", "-") + "_" + strings.ReplaceAll(name, ".", "-")
}
