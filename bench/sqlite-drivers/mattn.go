//go:build mattn

package main

import (
	_ "github.com/mattn/go-sqlite3"
)

func init() {
	drivers["mattn"] = func(path string) (string, string) {
		return "sqlite3", "file:" + path + "?_busy_timeout=10000&_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=on&_txlock=immediate"
	}
}
