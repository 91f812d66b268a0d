package bearer

import (
	"context"
	"strings"
	"sync"
)

// LocalJWKS returns the current JWKS document of an issuer served by this
// same process.
type LocalJWKS func(ctx context.Context) ([]byte, error)

// localIssuers are the issuers whose keys live in this process (the
// oidc_provider module registers itself), so bearer_jwt configured with
// that issuer and no jwks_url reads keys directly instead of fetching its
// own discovery document over HTTPS (which, with `tls internal`, the
// process may not even trust).
var localIssuers = struct {
	sync.Mutex
	m map[string][]*LocalJWKS
}{m: map[string][]*LocalJWKS{}}

// RegisterLocalIssuer makes keys for issuer come from jwks. Several
// registrations may overlap during a config reload: the newest wins until
// it is unregistered. Call unregister when the issuer's module is cleaned
// up.
func RegisterLocalIssuer(issuer string, jwks LocalJWKS) (unregister func()) {
	key := strings.TrimSuffix(issuer, "/")
	entry := &jwks
	localIssuers.Lock()
	localIssuers.m[key] = append(localIssuers.m[key], entry)
	localIssuers.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			localIssuers.Lock()
			defer localIssuers.Unlock()
			list := localIssuers.m[key]
			for i, e := range list {
				if e == entry {
					list = append(list[:i], list[i+1:]...)
					break
				}
			}
			if len(list) == 0 {
				delete(localIssuers.m, key)
			} else {
				localIssuers.m[key] = list
			}
		})
	}
}

// localIssuer is the newest in-process key source for issuer, if any.
func localIssuer(issuer string) LocalJWKS {
	localIssuers.Lock()
	defer localIssuers.Unlock()
	list := localIssuers.m[strings.TrimSuffix(issuer, "/")]
	if len(list) == 0 {
		return nil
	}
	return *list[len(list)-1]
}
