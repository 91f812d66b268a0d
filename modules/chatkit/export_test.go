package chatkit

// TrickleBody is trickleBody for the tests that run Caddy.
var TrickleBody = trickleBody
