// Package intellistack registers every IntelliStack Caddy module. Import it
// (or build with `xcaddy build --with github.com/intellistack/intellistack`)
// to get a Caddy that has all of them.
package intellistack

import (
	_ "github.com/intellistack/intellistack/modules/chatkit"
	_ "github.com/intellistack/intellistack/modules/jwtauth"
	_ "github.com/intellistack/intellistack/modules/oidc"
	_ "github.com/intellistack/intellistack/modules/ratelimit"
	_ "github.com/intellistack/intellistack/modules/store"
	_ "github.com/intellistack/intellistack/modules/tutor"
	_ "github.com/intellistack/intellistack/modules/widget"
)
