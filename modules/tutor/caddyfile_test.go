package tutor

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	t.Parallel()
	var tu Tutor
	err := tu.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`tutor {
		model openai {
			base_url http://127.0.0.1:11434/v1
			api_key {env.OPENAI_API_KEY}
			model llama3.1
			temperature 0.2
		}
		retriever lexical {
			path examples/course
		}
		course python-foundations
		stage_claim unlocked_stage
		default_stage 1
		staff_roles instructor admin ta
		passages 3
		token_budget 4000
		lesson_url https://learn.example.com/lessons/{lesson}
		min_score 0.25
	}`))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(tu.ModelRaw, &m)
	if m["provider"] != "openai" || m["model"] != "llama3.1" || m["api_key"] != "{env.OPENAI_API_KEY}" {
		t.Fatalf("model JSON %s", tu.ModelRaw)
	}
	var r map[string]any
	_ = json.Unmarshal(tu.RetrieverRaw, &r)
	if r["source"] != "lexical" || r["path"] != "examples/course" {
		t.Fatalf("retriever JSON %s", tu.RetrieverRaw)
	}
	if tu.Course != "python-foundations" || tu.StageClaim != "unlocked_stage" || strings.Join(tu.StaffRoles, ",") != "instructor,admin,ta" ||
		tu.Passages != 3 || tu.TokenBudget != 4000 || tu.DefaultStage != 1 || tu.MinScore == nil || *tu.MinScore != 0.25 {
		t.Fatalf("parsed %+v", tu)
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"tutor extra",
		"tutor {\n model\n}",
		"tutor {\n model nosuch {\n }\n}",
		"tutor {\n retriever nosuch\n}",
		"tutor {\n passages zero\n}",
		"tutor {\n passages 0\n}",
		"tutor {\n staff_roles\n}",
		"tutor {\n min_score\n}",
		"tutor {\n min_score 1.5\n}",
		"tutor {\n min_score -0.1\n}",
		"tutor {\n min_score high\n}",
		"tutor {\n modle openai\n}",
		"tutor {\n model openai {\n temperature hot\n }\n}",
	} {
		var tu Tutor
		if err := tu.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
