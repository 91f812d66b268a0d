package jwtauth

import (
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/intellistack/intellistack/modules/jwtauth/bearer"
)

func init() {
	caddy.RegisterModule(Issuers{})
}

// issuersAppID is the app holding one config's in-process issuers.
const issuersAppID = "bearer_jwt_issuers"

// Issuers is the app `bearer_jwt_issuers`: the OpenID providers a config
// serves in-process, so that bearer_jwt with the same issuer (and no
// jwks_url) reads their keys and client ids directly. Nobody configures
// it: the first module of a config that asks for it (oidc_provider
// registering, bearer_jwt looking up) creates it in that config, so each
// config, and each test's Caddy, has its own registry, and a reload never
// sees the previous config's keys.
type Issuers struct {
	reg *bearer.LocalIssuers
}

// CaddyModule returns the Caddy module information.
func (Issuers) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  issuersAppID,
		New: func() caddy.Module { return &Issuers{reg: new(bearer.LocalIssuers)} },
	}
}

// Start implements caddy.App; the registry needs no start.
func (*Issuers) Start() error { return nil }

// Stop implements caddy.App.
func (*Issuers) Stop() error { return nil }

// LocalIssuers returns the registry of in-process issuers of the config
// ctx belongs to. ctx must come from a loaded config (as every module's
// Provision context does): a bare caddy.NewContext has no config to hold
// the app, and Caddy panics there.
func LocalIssuers(ctx caddy.Context) (*bearer.LocalIssuers, error) {
	v, err := ctx.AppIfConfigured(issuersAppID)
	if errors.Is(err, caddy.ErrNotConfigured) {
		v, err = ctx.App(issuersAppID) // created on first use, in this config only
	}
	if err != nil {
		return nil, fmt.Errorf("loading the %s app: %v", issuersAppID, err)
	}
	app, ok := v.(*Issuers)
	if !ok || app.reg == nil {
		return nil, fmt.Errorf("%s app has unexpected type %T", issuersAppID, v)
	}
	return app.reg, nil
}

// RegisterLocalIssuer makes an OpenID provider of this config the source of
// issuer's keys and client ids for every bearer_jwt of the same config
// that names the issuer without a jwks_url. Call it from the provider's
// Provision; the registration ends with the config, so there is nothing to
// undo in Cleanup.
func RegisterLocalIssuer(ctx caddy.Context, issuer string, li bearer.LocalIssuer) error {
	if li.JWKS == nil {
		return errors.New("bearer_jwt: a local issuer needs a JWKS source")
	}
	reg, err := LocalIssuers(ctx)
	if err != nil {
		return err
	}
	reg.Register(issuer, li)
	return nil
}

// Interface guards
var _ caddy.App = (*Issuers)(nil)
