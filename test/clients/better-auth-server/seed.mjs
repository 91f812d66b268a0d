// Makes a real Better-Auth database for IntelliStack's importer test: runs
// Better-Auth's own migrations into the (empty) PostgreSQL database at
// DATABASE_URL, then creates its users through Better-Auth itself:
//
//   alice   password, e-mail verified, a live session
//   bob     password, unverified, two live sessions
//   carol   signed up with GitHub (the account row of the social flow,
//           tokens included), no password, a live session
//   admin   password, role admin (admin plugin), a live session
//   mallory password, banned by the admin through the admin plugin
//
// and prints one JSON object on stdout: {secret, users: [{id, email,
// password, role, banned, verified, cookies: ["<name>=<value>", …]}]}. The
// cookies are the signed session cookies Better-Auth set (value as sent,
// URL-encoded), each checked with Better-Auth's get-session.
import { getMigrations } from "better-auth/db/migration";
// better-call signs Better-Auth's cookies; pinned to the version
// better-auth 1.7.25 depends on.
import { serializeSignedCookie } from "better-call";
import { createAuth } from "./auth.mjs";

const { auth, pool } = createAuth();
const ctx = await auth.$context;
const { runMigrations } = await getMigrations(auth.options);
await runMigrations();

// cookieOf returns the session cookie ("name=value") a response set.
function cookieOf(res) {
  for (const c of res.headers.getSetCookie()) {
    const pair = c.split(";")[0];
    if (pair.split("=")[0].endsWith("better-auth.session_token")) return pair;
  }
  throw new Error(`no session cookie in ${res.status} ${JSON.stringify(res.headers.getSetCookie())}`);
}

async function signUp(name, email, password) {
  const res = await auth.api.signUpEmail({ body: { name, email, password }, asResponse: true });
  if (res.status !== 200) throw new Error(`sign-up ${email}: ${res.status} ${await res.text()}`);
  return (await res.json()).user;
}

async function signIn(email, password, rememberMe = true) {
  const res = await auth.api.signInEmail({ body: { email, password, rememberMe }, asResponse: true });
  if (res.status !== 200) throw new Error(`sign-in ${email}: ${res.status} ${await res.text()}`);
  return cookieOf(res);
}

// sessionOf checks a cookie with Better-Auth's own get-session.
async function sessionOf(cookie) {
  return auth.api.getSession({ headers: new Headers({ cookie }) });
}

const users = [];

const alice = await signUp("Alice Example", "alice@example.com", "alice-Password-1");
await ctx.internalAdapter.updateUser(alice.id, { emailVerified: true });
users.push({ ...alice, password: "alice-Password-1", cookies: [await signIn("alice@example.com", "alice-Password-1")] });

const bob = await signUp("Bob Example", "Bob@Example.com", "bob-Password-22");
users.push({ ...bob, password: "bob-Password-22",
  cookies: [await signIn("bob@example.com", "bob-Password-22"), await signIn("bob@example.com", "bob-Password-22", false)] });

// carol as the GitHub callback creates her: createOAuthUser with the
// provider's account row, then a session signed as the callback signs it
// (Better-Auth's setSessionCookie).
const { user: carol } = await ctx.internalAdapter.createOAuthUser(
  { name: "Carol GitHub", email: "carol@example.com", emailVerified: true, image: "https://avatars.githubusercontent.com/u/583231" },
  { providerId: "github", accountId: "583231", accessToken: "gho_seededAccessToken0123456789", scope: "read:user,user:email" },
);
const carolSession = await ctx.internalAdapter.createSession(carol.id);
const carolCookie = (await serializeSignedCookie(ctx.authCookies.sessionToken.name, carolSession.token, ctx.secret)).split(";")[0];
users.push({ ...carol, password: "", cookies: [carolCookie] });

await signUp("Ada Admin", "admin@example.com", "admin-Password-3");
const adminUser = await ctx.internalAdapter.findUserByEmail("admin@example.com");
await ctx.internalAdapter.updateUser(adminUser.user.id, { role: "admin", emailVerified: true });
const adminCookie = await signIn("admin@example.com", "admin-Password-3");
users.push({ ...(await ctx.internalAdapter.findUserById(adminUser.user.id)), password: "admin-Password-3", cookies: [adminCookie] });

const mallory = await signUp("Mallory", "mallory@example.com", "mallory-Password-4");
await signIn("mallory@example.com", "mallory-Password-4");
const ban = await auth.api.banUser({
  body: { userId: mallory.id, banReason: "spam", banExpiresIn: 30 * 24 * 3600 },
  headers: new Headers({ cookie: adminCookie }),
});
if (!ban?.user?.banned) throw new Error(`ban-user: ${JSON.stringify(ban)}`);
users.push({ ...ban.user, password: "mallory-Password-4", cookies: [] });

for (const u of users) {
  Object.assign(u, await ctx.internalAdapter.findUserById(u.id));
  for (const c of u.cookies) {
    const s = await sessionOf(c);
    if (!s || s.user.id !== u.id) throw new Error(`Better-Auth does not accept its own cookie for ${u.email}`);
  }
}

console.log(JSON.stringify({
  secret: ctx.secret,
  users: users.map((u) => ({ id: u.id, email: u.email, password: u.password, name: u.name, role: u.role ?? null,
    banned: !!u.banned, banReason: u.banReason ?? null, verified: !!u.emailVerified, cookies: u.cookies })),
}));
await pool.end();
