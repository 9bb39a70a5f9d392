package motion

import (
	"encoding/json"
	"testing"
)

func TestLoadBalancingKeepsTheRetryPolicy(t *testing.T) {
	s := &settings{serviceConfig: DefaultServiceConfig}
	if err := WithLoadBalancing("round_robin")(s); err != nil {
		t.Fatal(err)
	}
	var config struct {
		MethodConfig []struct {
			RetryPolicy map[string]any `json:"retryPolicy"`
		} `json:"methodConfig"`
		LoadBalancingConfig []map[string]any `json:"loadBalancingConfig"`
	}
	if err := json.Unmarshal([]byte(s.serviceConfig), &config); err != nil {
		t.Fatal(err)
	}
	if len(config.MethodConfig) == 0 || config.MethodConfig[0].RetryPolicy["maxAttempts"] == nil {
		t.Fatalf("the retry policy is gone: %s", s.serviceConfig)
	}
	if len(config.LoadBalancingConfig) != 1 || config.LoadBalancingConfig[0]["round_robin"] == nil {
		t.Fatalf("no round_robin: %s", s.serviceConfig)
	}
	if err := WithLoadBalancing("round_robin")(&settings{serviceConfig: "not json"}); err == nil {
		t.Fatal("a service config that is not JSON was taken")
	}
}
