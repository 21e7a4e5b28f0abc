package redis

// SetScriptNonce gives c new scripts (their source differs by a comment), which the server
// does not know yet, as after a restart or a SCRIPT FLUSH. Call it before c is used.
func SetScriptNonce(c *Client, nonce string) { c.scripts = newScripts(nonce) }

// ScriptHashes are the SHA-1 digests of c's scripts.
func ScriptHashes(c *Client) []string {
	s := c.scripts
	return []string{s.putView.Hash(), s.applyDeltas.Hash(), s.putSnapshot.Hash(), s.incr.Hash()}
}
