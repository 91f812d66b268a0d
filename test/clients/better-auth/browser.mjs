// What a browser front end brings to the official better-auth client:
// createAuthClient with jwtClient and adminClient, a cookie jar of its own,
// and the page's Origin on every request (a browser adds it by itself).
// Shared by client.mjs and compare.mjs, with the outbox reader.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createAuthClient } from "better-auth/client";
import { adminClient, jwtClient } from "better-auth/client/plugins";

// browser returns a client with its own cookie jar; state keeps the last
// answer's status and headers, fetch is the jar-keeping fetch itself.
export function browser(baseURL, origin) {
  const jar = new Map();
  const state = { status: 0, headers: null };
  const customFetchImpl = async (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set("Origin", origin);
    if (jar.size) headers.set("Cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await fetch(input, { ...init, headers, redirect: "manual" });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(";");
      const i = pair.indexOf("=");
      const name = pair.slice(0, i), value = pair.slice(i + 1);
      if (value === "" || attrs.some((a) => a.trim().toLowerCase() === "max-age=0")) jar.delete(name);
      else jar.set(name, value);
    }
    state.status = res.status;
    state.headers = res.headers;
    return res;
  };
  const client = createAuthClient({ baseURL, plugins: [jwtClient(), adminClient()], fetchOptions: { customFetchImpl } });
  return { client, jar, state, fetch: customFetchImpl };
}

// mails returns the server's mails in outbox (.eml files, oldest first,
// quoted-printable soft breaks and =3D undone) once there are n.
export async function mails(outbox, n) {
  for (let i = 0; i < 200; i++) {
    const files = readdirSync(outbox).filter((f) => f.endsWith(".eml")).sort();
    if (files.length >= n) {
      return files.map((f) => readFileSync(join(outbox, f), "utf8").replace(/=\r\n/g, "").replace(/=3D/g, "="));
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`fewer than ${n} mails in ${outbox}`);
}
