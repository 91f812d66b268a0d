// This file is the fork's one addition to golang.org/x/crypto/argon2 (see
// README.md): the block memory is reused from one hash to the next instead of
// allocated anew, as golang/go#36634 asks upstream.

package argon2

import "sync"

// maxPooledBlocks bounds the memory kept between hashes (64 MiB): a hash
// read from an old or imported row may ask for far more than the default
// parameters, and that much should go back to the runtime.
const maxPooledBlocks = 64 << 10

// blockPool holds zeroed block slices. Each password hash otherwise makes
// (and the runtime zeroes, faults in and later collects) its whole memory
// cost: 19 MiB per sign-in at the OWASP minimum, which cost more than a
// third of the hash's time under load and let garbage pile up between
// collections.
var blockPool sync.Pool

// takeBlocks returns n zeroed blocks, the algorithm's starting state
// (every pass XORs into the memory).
func takeBlocks(n uint32) []block {
	if p, ok := blockPool.Get().(*[]block); ok && uint32(cap(*p)) >= n {
		return (*p)[:n]
	}
	return make([]block, n)
}

// releaseBlocks wipes B, which holds values derived from the password, and
// keeps it for the next hash.
func releaseBlocks(B []block) {
	B = B[:cap(B)]
	clear(B)
	if len(B) <= maxPooledBlocks {
		blockPool.Put(&B)
	}
}
