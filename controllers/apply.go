package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sipws/sipws/controllers/render"
)

// FieldOwner is the one server-side-apply field manager of the controller: every child is
// applied under it, so a field the controller stops setting is removed by the next apply.
const FieldOwner = "sipws-controller"

// apply server-side-applies a rendered object under FieldOwner, taking over fields another
// manager changed: the gateway is the source of truth for its children.
func apply(ctx context.Context, c client.Client, obj client.Object) error {
	u, err := render.Unstructured(obj)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}
