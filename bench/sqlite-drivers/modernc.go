package main

import (
	"net/url"

	_ "modernc.org/sqlite"
)

func init() {
	drivers["modernc"] = func(path string) (string, string) {
		return "sqlite", "file:" + path + "?" + pragmas("_pragma").Encode() + "&_txlock=immediate"
	}
}

// pragmas are modules/store's, in the _pragma form modernc and ncruces
// share.
func pragmas(key string) url.Values {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(ON)"} {
		q.Add(key, p)
	}
	return q
}
