package tutor

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/intellistack/intellistack/modules/tutor/model"
	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

// UnmarshalCaddyfile parses the tutor inside a chatkit block:
//
//	chatkit {
//		responder tutor {
//			model openai {
//				base_url <url>
//				api_key  {env.OPENAI_API_KEY}
//				model    <name>
//			}
//			retriever lexical {
//				path <folder>
//			}
//			# or: retriever qdrant { address …; collection …; embeddings { … } }
//			course        <course id>
//			stage_claim   <claim>          # default stage
//			default_stage <n>              # default 1
//			staff_roles   <roles…>         # default instructor admin
//			prompt_file   <path>
//			passages      <n>              # default 4
//			token_budget  <n>              # default 6000
//			min_score     <0..1>           # default: the retriever's (lexical 0.3)
//			lesson_url    <url with {lesson}>
//		}
//	}
//
// Without a model block the tutor answers in its retrieval-only mode.
func (t *Tutor) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "tutor"
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "model":
			if !d.NextArg() {
				return d.ArgErr()
			}
			name := d.Val()
			v, err := caddyfile.UnmarshalModule(d, "intellistack.models."+name)
			if err != nil {
				return err
			}
			if _, ok := v.(model.Model); !ok {
				return d.Errf("module %s is not a model", name)
			}
			t.ModelRaw = caddyconfig.JSONModuleObject(v, "provider", name, nil)
		case "retriever":
			if !d.NextArg() {
				return d.ArgErr()
			}
			name := d.Val()
			v, err := caddyfile.UnmarshalModule(d, "intellistack.retrievers."+name)
			if err != nil {
				return err
			}
			if _, ok := v.(retrieval.Retriever); !ok {
				return d.Errf("module %s is not a retriever", name)
			}
			t.RetrieverRaw = caddyconfig.JSONModuleObject(v, "source", name, nil)
		case "course", "stage_claim", "prompt_file", "lesson_url":
			key := d.Val()
			var val string
			if !d.Args(&val) || d.NextArg() {
				return d.ArgErr()
			}
			switch key {
			case "course":
				t.Course = val
			case "stage_claim":
				t.StageClaim = val
			case "prompt_file":
				t.PromptFile = val
			case "lesson_url":
				t.LessonURL = val
			}
		case "default_stage", "passages", "token_budget":
			key := d.Val()
			var val string
			if !d.Args(&val) || d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return d.Errf("%s: %q is not a positive number", key, val)
			}
			switch key {
			case "default_stage":
				t.DefaultStage = n
			case "passages":
				t.Passages = n
			case "token_budget":
				t.TokenBudget = n
			}
		case "min_score":
			var val string
			if !d.Args(&val) || d.NextArg() {
				return d.ArgErr()
			}
			f, err := strconv.ParseFloat(val, 64)
			if err != nil || f < 0 || f > 1 {
				return d.Errf("min_score: %q is not a number from 0 to 1", val)
			}
			t.MinScore = &f
		case "staff_roles":
			t.StaffRoles = d.RemainingArgs()
			if len(t.StaffRoles) == 0 {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized tutor option: %s", d.Val())
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Tutor)(nil)
