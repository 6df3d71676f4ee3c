// Sign-in: the address `aoctl dashboard` prints carries the token after `#` (which no request
// sends). It is posted once to /auth for the HttpOnly cookie, then dropped from the address bar
// and the history entry, so it is neither bookmarked nor shown over a shoulder.

const TOKEN_IN_HASH = /(?:^#|&)token=([^&]*)/;

/** null: no token in the address (the cookie may still sign us in); else throws on refusal. */
export async function signInFromHash() {
  const match = TOKEN_IN_HASH.exec(location.hash);
  if (!match) return null;
  const token = decodeURIComponent(match[1]);
  try {
    const reply = await fetch("/auth", {
      method: "POST",
      headers: {"content-type": "application/json"},
      body: JSON.stringify({token}),
      credentials: "same-origin",
      cache: "no-store",
    });
    if (reply.status !== 204) throw new Error((await reply.text()) || `sign-in refused (${reply.status})`);
    return true;
  } finally {
    history.replaceState(null, "", location.pathname + location.search);
  }
}

/** Whether the cookie still signs us in: a WebSocket that fails says nothing of why. */
export async function signedIn() {
  const reply = await fetch("/rpc", {
    method: "POST",
    headers: {"content-type": "application/json"},
    body: JSON.stringify({jsonrpc: "2.0", id: 0, method: "daemon.ping"}),
    credentials: "same-origin",
    cache: "no-store",
  });
  return reply.status !== 401;
}
