//go:build !mattn

package main

import (
	_ "github.com/ncruces/go-sqlite3/driver"
)

func init() {
	drivers["ncruces"] = func(path string) (string, string) {
		return "sqlite3", "file:" + path + "?" + pragmas("_pragma").Encode() + "&_txlock=immediate"
	}
}
