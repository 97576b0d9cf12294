package upgrade_test

import (
	"context"

	"github.com/rollgate/rollgate/upgrade"
)

type nopDriver struct{}

func (nopDriver) Pods(context.Context) ([]upgrade.Pod, error)       { return nil, nil }
func (nopDriver) Create(context.Context, int32, string, bool) error { return nil }
func (nopDriver) Delete(context.Context, upgrade.Pod) error         { return nil }
