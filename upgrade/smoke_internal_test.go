package upgrade

import (
	"context"
	"fmt"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rollgate/rollgate/status"
)

type sfake struct {
	clk   *clocktesting.FakeClock
	pods  []Pod
	uid   int
	start time.Duration
	term  time.Duration
	dead  map[string]time.Time
}

func (f *sfake) Pods(ctx context.Context) ([]Pod, error) {
	now := f.clk.Now()
	var out []Pod
	keep := f.pods[:0]
	for _, p := range f.pods {
		if t, ok := f.dead[p.UID]; ok && !now.Before(t) {
			continue
		}
		keep = append(keep, p)
	}
	f.pods = keep
	for _, p := range f.pods {
		if !p.Terminating && !now.Before(p.Created.Add(f.start)) {
			p.Ready = true
		}
		out = append(out, p)
	}
	return out, nil
}
func (f *sfake) Create(ctx context.Context, i int32, v string, surge bool) error {
	f.uid++
	name := fmt.Sprintf("g-%d", i)
	if surge {
		name += "-s"
	}
	for _, p := range f.pods {
		if p.Name == name {
			return fmt.Errorf("exists %s", name)
		}
	}
	f.pods = append(f.pods, Pod{Index: i, Name: name, Version: v, Created: f.clk.Now(), UID: fmt.Sprint(f.uid)})
	return nil
}
func (f *sfake) Delete(ctx context.Context, p Pod) error {
	for k := range f.pods {
		if f.pods[k].UID == p.UID && !f.pods[k].Terminating {
			f.pods[k].Terminating = true
			f.pods[k].Ready = false
			f.dead[p.UID] = f.clk.Now().Add(f.term)
		}
	}
	return nil
}

func TestSmoke(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	f := &sfake{clk: clk, start: 3 * time.Second, term: time.Second, dead: map[string]time.Time{}}
	for i := int32(0); i < 5; i++ {
		f.Create(context.Background(), i, "v1", false)
	}
	clk.Step(time.Minute)
	spec, err := ParseSpec([]byte("rollingUpdate:\n  partition: 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := New(f, spec, WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	st := &status.Status{}
	for k := 0; k < 200; k++ {
		p, _ := u.Plan(context.Background(), st, Desired{"v2", 5})
		res, err := u.Step(context.Background(), st, Desired{"v2", 5})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("t=%v res=%+v phase=%s msg=%s next=%v", clk.Now().Sub(time.Unix(1000, 0)), res, st.Phase, msg(st), p.Next)
		if res.Done {
			if *spec.RollingUpdate.Partition == 0 {
				break
			}
			p := int32(0)
			spec.RollingUpdate.Partition = &p
			u, _ = New(f, spec, WithClock(clk))
			continue
		}
		clk.Step(res.RequeueAfter)
	}
	t.Logf("%+v", st.UpgradeStatus)
	if st.CurrentVersion != "v2" {
		t.Fatal("not upgraded")
	}
}

func msg(st *status.Status) string {
	if st.UpgradeStatus == nil {
		return ""
	}
	return string(st.UpgradeStatus.Phase) + " " + st.UpgradeStatus.Message
}
