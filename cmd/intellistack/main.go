// Command intellistack is Caddy with its standard modules and every
// IntelliStack module, plus the `intellistack migrate` subcommand.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/intellistack/intellistack"
)

func main() {
	caddycmd.Main()
}
