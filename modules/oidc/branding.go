package oidc

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// BrandingConfig makes the hosted pages look like the operator's product:
// its name above every page and in the window title, its logo, and its
// colour on buttons, links and focus rings (the text on them turns dark or
// light to keep a 4.5:1 contrast). The tutor widget takes the same values as
// attributes (name, logo, color) or CSS custom properties.
//
//	branding {
//		name  "Python 101"
//		logo  /assets/logo.svg
//		color "#0b6bcb"
//	}
//
// Quote the colour: in a Caddyfile an unquoted # starts a comment.
type BrandingConfig struct {
	// Name is the product's name. Default: none (pages show only their
	// title).
	//
	//	name <text>
	Name string `json:"name,omitempty"`

	// Logo is the URL of an image shown before the name: a path on this
	// site, or an https URL (its origin is then allowed by the pages'
	// Content-Security-Policy). Default: none.
	//
	//	logo <url>
	Logo string `json:"logo,omitempty"`

	// Color is the accent colour, #rgb or #rrggbb. Default: #2457c5.
	//
	//	color "<#hex>"
	Color string `json:"color,omitempty"`
}

// defaultBrandColor is a blue with 6:1 contrast against white.
const defaultBrandColor = "#2457c5"

var hexColor = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// brand is what the page templates receive as .Brand: validated values only,
// since they are written into CSS and attributes.
type brand struct {
	Name    string
	Logo    string
	Color   string // #rrggbb
	OnColor string // text on Color: #ffffff or #111111
	// imgOrigin is the logo's origin when it is not this site's.
	imgOrigin string
}

// newBrand validates c (nil is the default look).
func newBrand(c *BrandingConfig) (brand, error) {
	b := brand{Color: defaultBrandColor}
	if c == nil {
		b.OnColor = onColor(b.Color)
		return b, nil
	}
	b.Name = strings.TrimSpace(c.Name)
	if c.Color != "" {
		color := c.Color
		if !strings.HasPrefix(color, "#") {
			color = "#" + color
		}
		if !hexColor.MatchString(color) {
			return b, fmt.Errorf("branding: color %q is not #rgb or #rrggbb", c.Color)
		}
		if len(color) == 4 {
			color = "#" + strings.Repeat(color[1:2], 2) + strings.Repeat(color[2:3], 2) + strings.Repeat(color[3:4], 2)
		}
		b.Color = strings.ToLower(color)
	}
	b.OnColor = onColor(b.Color)
	if c.Logo != "" {
		u, err := url.Parse(c.Logo)
		switch {
		case err != nil:
			return b, fmt.Errorf("branding: logo %q: %v", c.Logo, err)
		case u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/"):
		case u.Scheme == "https" && u.Host != "":
			b.imgOrigin = "https://" + u.Host
		default:
			return b, fmt.Errorf("branding: logo %q must be a path on this site (/…) or an https URL", c.Logo)
		}
		b.Logo = c.Logo
	}
	return b, nil
}

// onColor picks the text colour with the higher WCAG contrast on bg.
func onColor(bg string) string {
	l := luminance(bg)
	white := 1.05 / (l + 0.05)
	dark := (l + 0.05) / (luminance("#111111") + 0.05)
	if white >= dark {
		return "#ffffff"
	}
	return "#111111"
}

// luminance is the WCAG 2 relative luminance of a #rrggbb colour.
func luminance(hex string) float64 {
	var rgb [3]float64
	for i := range rgb {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		c := float64(v) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		rgb[i] = c
	}
	return 0.2126*rgb[0] + 0.7152*rgb[1] + 0.0722*rgb[2]
}

// unmarshalBranding parses the `branding` block.
func unmarshalBranding(d *caddyfile.Dispenser) (*BrandingConfig, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	b := new(BrandingConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		key := d.Val()
		var val string
		switch key {
		case "name", "logo", "color":
			if !d.Args(&val) || d.NextArg() {
				if key == "color" {
					return nil, d.Err(`branding: color needs one value; quote it (color "#0b6bcb"): an unquoted # starts a comment`)
				}
				return nil, d.ArgErr()
			}
		default:
			return nil, d.Errf("unrecognized branding option: %s", key)
		}
		switch key {
		case "name":
			b.Name = val
		case "logo":
			b.Logo = val
		case "color":
			b.Color = val
		}
	}
	if _, err := newBrand(b); err != nil {
		return nil, d.Err(err.Error())
	}
	return b, nil
}
