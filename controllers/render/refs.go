package render

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/sipws/sipws/api/v1alpha1"
)

// Ref is one Secret key the gateway needs, and the file it becomes in the files Secret.
type Ref struct {
	// Secret is the name of the Secret in the gateway's namespace.
	Secret string
	// Key is the data key in the Secret.
	Key string
	// File is the key in the files Secret, i.e. the file name under FilesDir.
	File string
	// Field is the spec field that holds the reference, for messages.
	Field string
}

// File names in the files Secret (FilesDir).
const (
	fileNATSCreds   = "nats.creds"
	fileNATSCA      = "nats-ca.crt"
	fileNATSCert    = "nats-client.crt"
	fileNATSKey     = "nats-client.key"
	fileRouterCert  = "router-tls.crt"
	fileRouterKey   = "router-tls.key"
	listenerCertFmt = "listener-%s-%d.crt"
	listenerKeyFmt  = "listener-%s-%d.key"
)

// registrarUsersFile is the users file of a route's registrar in the files Secret.
func registrarUsersFile(route string) string { return "registrar-" + route + "-users.yaml" }

// Refs lists every Secret key the gateway references, in spec order. The flow-token key ring
// is included only when flowTokenSecretRef is set; otherwise it comes from the generated
// Secret (FlowTokenSecretName), which the reconciler creates.
func Refs(gw *v1.SipWebSocketGateway) []Ref {
	var refs []Ref
	for i, l := range gw.Spec.Listeners {
		if l.TLS == nil {
			continue
		}
		for j, c := range l.TLS.CertificateRefs {
			f := fmt.Sprintf("spec.listeners[%d].tls.certificateRefs[%d]", i, j)
			refs = append(refs,
				Ref{Secret: c.Name, Key: corev1.TLSCertKey, File: fmt.Sprintf(listenerCertFmt, l.Name, j), Field: f},
				Ref{Secret: c.Name, Key: corev1.TLSPrivateKeyKey, File: fmt.Sprintf(listenerKeyFmt, l.Name, j), Field: f})
		}
	}
	n := gw.Spec.NATS
	if r := n.CredentialsSecretRef; r != nil {
		refs = append(refs, Ref{Secret: r.Name, Key: r.KeySelect(v1.DefaultNATSCredentialsKey), File: fileNATSCreds, Field: "spec.nats.credentialsSecretRef"})
	}
	if t := n.TLS; t != nil {
		if r := t.CASecretRef; r != nil {
			refs = append(refs, Ref{Secret: r.Name, Key: r.KeySelect(v1.DefaultNATSCAKey), File: fileNATSCA, Field: "spec.nats.tls.caSecretRef"})
		}
		if r := t.ClientCertificateRef; r != nil {
			refs = append(refs,
				Ref{Secret: r.Name, Key: corev1.TLSCertKey, File: fileNATSCert, Field: "spec.nats.tls.clientCertificateRef"},
				Ref{Secret: r.Name, Key: corev1.TLSPrivateKeyKey, File: fileNATSKey, Field: "spec.nats.tls.clientCertificateRef"})
		}
	}
	if t := gw.Spec.Router.TLS; t != nil {
		refs = append(refs,
			Ref{Secret: t.CertificateRef.Name, Key: corev1.TLSCertKey, File: fileRouterCert, Field: "spec.router.tls.certificateRef"},
			Ref{Secret: t.CertificateRef.Name, Key: corev1.TLSPrivateKeyKey, File: fileRouterKey, Field: "spec.router.tls.certificateRef"})
	}
	for _, rt := range gw.Spec.Routes {
		if g := rt.Upstream.Registrar; g != nil && g.Auth != nil {
			r := g.Auth.UsersSecretRef
			refs = append(refs, Ref{Secret: r.Name, Key: r.KeySelect(v1.DefaultRegistrarUsersKey), File: registrarUsersFile(rt.Name),
				Field: "spec.routes[" + rt.Name + "].upstream.registrar.auth.usersSecretRef"})
		}
	}
	if r := gw.Spec.FlowTokenSecretRef; r != nil {
		refs = append(refs, Ref{Secret: r.Name, Key: r.KeySelect(v1.DefaultFlowTokenKey), File: FlowKeysKey, Field: "spec.flowTokenSecretRef"})
	}
	return refs
}

// SecretNames are the distinct Secrets the gateway references (sorted), for watches.
func SecretNames(gw *v1.SipWebSocketGateway) []string {
	seen := map[string]bool{}
	var names []string
	for _, r := range Refs(gw) {
		if !seen[r.Secret] {
			seen[r.Secret] = true
			names = append(names, r.Secret)
		}
	}
	sort.Strings(names)
	return names
}

// Problem is a reference that cannot be resolved.
type Problem struct {
	Ref Ref
	// NotFound: the Secret does not exist (otherwise it lacks the key or the value is unusable).
	NotFound bool
	Message  string
}

func (p Problem) String() string { return p.Message }

// ResolveFiles copies every referenced key out of secrets (by name) into the files of the
// files Secret. Problems name each missing Secret (once) or key; files is only complete when
// there are none.
func ResolveFiles(refs []Ref, secrets map[string]*corev1.Secret) (files map[string][]byte, problems []Problem) {
	files = make(map[string][]byte, len(refs))
	missing := map[string]bool{}
	for _, r := range refs {
		s, ok := secrets[r.Secret]
		if !ok || s == nil {
			if !missing[r.Secret] {
				missing[r.Secret] = true
				problems = append(problems, Problem{Ref: r, NotFound: true, Message: fmt.Sprintf("Secret %q (%s) not found", r.Secret, r.Field)})
			}
			continue
		}
		v, ok := s.Data[r.Key]
		if !ok || len(v) == 0 {
			problems = append(problems, Problem{Ref: r, Message: fmt.Sprintf("Secret %q (%s) has no key %q", r.Secret, r.Field, r.Key)})
			continue
		}
		files[r.File] = v
	}
	return files, problems
}

// ProblemsMessage joins problems into one condition message.
func ProblemsMessage(problems []Problem) string {
	s := make([]string, len(problems))
	for i, p := range problems {
		s[i] = p.Message
	}
	return strings.Join(s, "; ")
}
