package v1alpha1

// ConditionType is a status condition type of a gateway or of one of its listeners.
type ConditionType string

// Gateway condition types (status.conditions) and listener condition types
// (status.listeners[].conditions; Accepted, ResolvedRefs and Programmed).
const (
	// ConditionAccepted: the spec is valid beyond what the schema checks (the rendered
	// data-plane config passes edge/config validation).
	ConditionAccepted ConditionType = "Accepted"
	// ConditionResolvedRefs: every referenced Secret and Service exists and has the keys needed.
	ConditionResolvedRefs ConditionType = "ResolvedRefs"
	// ConditionProgrammed: the ConfigMap, Secret, Deployments, Services, HPAs and PDBs are applied.
	ConditionProgrammed ConditionType = "Programmed"
	// ConditionReady: edge and router pods are ready and the edge Service has an address.
	ConditionReady ConditionType = "Ready"
)

// ConditionReason is the machine-readable reason of a condition.
type ConditionReason string

// Reasons. A condition that is True has the reason named like its type.
const (
	// Accepted.
	ReasonAccepted ConditionReason = "Accepted"
	// ReasonInvalid: the spec fails a check the schema cannot express; the message says which.
	ReasonInvalid ConditionReason = "Invalid"
	// ReasonPortUnavailable (listener): the port is reserved, e.g. by the router or admin port.
	ReasonPortUnavailable ConditionReason = "PortUnavailable"

	// ResolvedRefs.
	ReasonResolvedRefs ConditionReason = "ResolvedRefs"
	// ReasonSecretNotFound: a referenced Secret does not exist; the message names it.
	ReasonSecretNotFound ConditionReason = "SecretNotFound"
	// ReasonInvalidSecret: a referenced Secret lacks a key, has the wrong type or holds an
	// unusable certificate or key ring.
	ReasonInvalidSecret ConditionReason = "InvalidSecret"
	// ReasonInvalidCertificateRef (listener): a certificate Secret of the listener is missing
	// or invalid.
	ReasonInvalidCertificateRef ConditionReason = "InvalidCertificateRef"
	// ReasonServiceNotFound: an upstream serviceRef names no Service.
	ReasonServiceNotFound ConditionReason = "ServiceNotFound"

	// Programmed.
	ReasonProgrammed ConditionReason = "Programmed"
	// ReasonApplyFailed: applying a child object failed; the message has the error.
	ReasonApplyFailed ConditionReason = "ApplyFailed"

	// Ready.
	ReasonReady ConditionReason = "Ready"
	// ReasonPodsNotReady: fewer edge or router pods are ready than wanted.
	ReasonPodsNotReady ConditionReason = "PodsNotReady"
	// ReasonAddressNotAssigned: the edge Service has no address yet (LoadBalancer pending).
	ReasonAddressNotAssigned ConditionReason = "AddressNotAssigned"

	// ReasonPending: not yet reconciled, or waiting on another condition.
	ReasonPending ConditionReason = "Pending"
)
