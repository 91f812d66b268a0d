// Runs one scripted session with the official better-auth client against
// a server (IntelliStack's better_auth_api, or a real Better-Auth 1.7) and
// prints, as one JSON array on the last line, what a front end can observe
// of each step: the HTTP status, the error code, and the shape of the
// answer (the type of every field, recursively; values are not compared,
// since ids, tokens and dates differ by nature). compare_test.go runs it
// against both servers and diffs the two records.
//
// Environment: BASE_URL, ORIGIN (a trusted origin), OUTBOX (where the
// server writes its mails as .eml files), ADMIN_EMAIL (a user with the
// role admin and the password below).
import { browser as makeBrowser, mails as outboxMails } from "./browser.mjs";

const baseURL = process.env.BASE_URL;
const origin = process.env.ORIGIN;
const outbox = process.env.OUTBOX;
const password = "Correct-Horse-42";

const browser = () => makeBrowser(baseURL, origin);

// shape is the type skeleton of a JSON value: arrays by their first element.
function shape(v) {
  if (v === null || v === undefined) return "null";
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v).sort()) out[k] = shape(v[k]);
    return out;
  }
  return typeof v;
}

const record = [];
function step(name, b, r) {
  const entry = { step: name, status: b.state.status };
  if (r.error) entry.code = r.error.code ?? null;
  else entry.shape = shape(r.data);
  record.push(entry);
  return r;
}
// value is step plus one value both servers must agree on (pick reads it
// from the answer's data).
function value(name, b, r, pick) {
  step(name, b, r);
  record.at(-1).value = r.error ? null : (pick(r.data) ?? null);
  return r;
}
function note(name, status, data) {
  record.push({ step: name, status, shape: shape(data) });
}

function jwtParts(jwt) {
  const [h, p] = jwt.split(".");
  return { header: JSON.parse(Buffer.from(h, "base64url")), payload: JSON.parse(Buffer.from(p, "base64url")) };
}

const mails = (n) => outboxMails(outbox, n);

// mailTo waits for the newest mail to addr (the To: header).
async function mailTo(addr) {
  for (let i = 0; i < 200; i++) {
    const found = (await mails(0)).filter((m) => new RegExp(`^To:.*${addr.replace(/[.+]/g, "\\$&")}`, "mi").test(m));
    if (found.length) return found.at(-1);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no mail to ${addr} in ${outbox}`);
}

const email = `alice-${Date.now()}@example.com`;
const alice = browser();
const other = browser();
const anon = browser();

step("sign-up", alice, await alice.client.signUp.email({ name: "Alice Example", email, password }));
step("sign-up: existing e-mail", other, await other.client.signUp.email({ name: "Again", email, password }));
step("sign-up: weak password", other, await other.client.signUp.email({ name: "Weak", email: `weak-${email}`, password: "short" }));
step("sign-up: invalid e-mail", other, await other.client.signUp.email({ name: "Bad", email: "not-an-address", password }));
step("sign-in: wrong password", other, await other.client.signIn.email({ email, password: "Wrong-Horse-42" }));
step("sign-in: invalid e-mail", other, await other.client.signIn.email({ email: "not-an-address", password }));
step("sign-in: unknown user", other, await other.client.signIn.email({ email: `nobody-${email}`, password }));
step("sign-in", other, await other.client.signIn.email({ email, password }));
step("sign-in with callbackURL", anon, await anon.client.signIn.email({ email, password, callbackURL: "/dashboard" }));
step("sign-in: untrusted callbackURL", anon, await anon.client.signIn.email({ email, password, callbackURL: "https://evil.example/x" }));
const session = step("get-session", alice, await alice.client.getSession());
const userId = session.data?.user?.id;
const stranger = browser();
step("get-session: signed out", stranger, await stranger.client.getSession());

const tok = step("token", alice, await alice.client.token());
if (tok.data?.token) {
  const { header, payload } = jwtParts(tok.data.token);
  note("token: JWT header", 200, header);
  note("token: JWT claims", 200, payload);
}
step("jwks", alice, await alice.client.jwks());
const nobody = browser();
step("token: signed out", nobody, await nobody.client.token());

step("update-user", alice, await alice.client.updateUser({ name: "Alice B" }));
const sessions = step("list-sessions", alice, await alice.client.listSessions());
const aliceToken = alice.jar.get([...alice.jar.keys()].find((k) => k.endsWith("session_token")))?.split(".")[0];
const otherSession = (sessions.data || []).find((s) => s.token !== aliceToken);
step("revoke-session", alice, await alice.client.revokeSession({ token: otherSession?.token ?? "none" }));
step("get-session: revoked", other, await other.client.getSession());

step("change-password", alice, await alice.client.changePassword({ currentPassword: password, newPassword: "New-Horse-4242" }));
step("change-password: wrong password", alice, await alice.client.changePassword({ currentPassword: "Wrong-Horse-42", newPassword: "New-Horse-4243" }));
step("change-password: weak", alice, await alice.client.changePassword({ currentPassword: "New-Horse-4242", newPassword: "short" }));

const before = (await mails(0)).length;
step("request-password-reset", other, await other.client.requestPasswordReset({ email, redirectTo: "/reset" }));
step("request-password-reset: unknown", other, await other.client.requestPasswordReset({ email: `nobody-${email}`, redirectTo: "/reset" }));
const resetMail = (await mails(before + 1)).at(-1);
const resetLink = resetMail.match(/https?:\/\/\S+\/api\/auth\/reset-password\/[A-Za-z0-9_-]+\?callbackURL=\S*/)?.[0];
const token = resetLink?.match(/reset-password\/([A-Za-z0-9_-]+)/)?.[1];
if (resetLink) {
  const res = await fetch(resetLink, { redirect: "manual" });
  // The two servers live at different addresses: the path is what counts.
  const loc = new URL(res.headers.get("location") || "", baseURL);
  record.push({ step: "reset link", status: res.status, location: (loc.pathname + loc.search).replace(token, "<token>") });
}
step("reset-password: bad token", other, await other.client.resetPassword({ newPassword: "Reset-Horse-777", token: "nope" }));
step("reset-password", other, await other.client.resetPassword({ newPassword: "Reset-Horse-777", token }));
step("sign-in with the new password", other, await other.client.signIn.email({ email, password: "Reset-Horse-777" }));

step("send-verification-email", other, await other.client.sendVerificationEmail({ email, callbackURL: "/verified" }));
const verifyMail = (await mails(before + 2)).at(-1);
const vtoken = verifyMail.match(/\/api\/auth\/verify-email\?token=([A-Za-z0-9._-]+)/)?.[1];
step("verify-email: bad token", other, await other.client.verifyEmail({ query: { token: "nope" } }));
step("verify-email: no token", other, await other.client.verifyEmail({ query: {} }));
step("verify-email", other, await other.client.verifyEmail({ query: { token: vtoken } }));
step("get-session: verified", other, await other.client.getSession());

// The admin plugin.
const admin = browser();
step("admin sign-in", admin, await admin.client.signIn.email({ email: process.env.ADMIN_EMAIL, password }));
step("list-users: not signed in", nobody, await nobody.client.admin.listUsers({ query: { limit: 10 } }));
step("list-users: not an admin", other, await other.client.admin.listUsers({ query: { limit: 10 } }));
step("list-users", admin, await admin.client.admin.listUsers({ query: { limit: 10, searchValue: email } }));
step("set-role", admin, await admin.client.admin.setRole({ userId, role: "admin" }));
step("set-role: back", admin, await admin.client.admin.setRole({ userId, role: "user" }));
step("ban-user", admin, await admin.client.admin.banUser({ userId, banReason: "spam", banExpiresIn: 3600 }));
step("sign-in: banned", other, await other.client.signIn.email({ email, password: "Reset-Horse-777" }));
step("unban-user", admin, await admin.client.admin.unbanUser({ userId }));
step("sign-in after unban", other, await other.client.signIn.email({ email, password: "Reset-Horse-777" }));
step("list-user-sessions", admin, await admin.client.admin.listUserSessions({ userId }));
step("revoke-user-sessions", admin, await admin.client.admin.revokeUserSessions({ userId }));
step("get-session: revoked by the admin", other, await other.client.getSession());

// The admin plugin's account management.
step("sign-in again", other, await other.client.signIn.email({ email, password: "Reset-Horse-777" }));
const daveEmail = `dave-${email}`;
step("create-user: not an admin", other, await other.client.admin.createUser({ email: daveEmail, name: "Dave", password }));
const created = step("create-user", admin, await admin.client.admin.createUser({ email: daveEmail, name: "Dave", password, role: "user" }));
const daveId = created.data?.user?.id ?? "none";
step("create-user: existing e-mail", admin, await admin.client.admin.createUser({ email: daveEmail, name: "Dave", password }));
step("create-user: invalid e-mail", admin, await admin.client.admin.createUser({ email: "not-an-address", name: "Bad", password }));
step("create-user: without a password", admin, await admin.client.admin.createUser({ email: `nopw-${email}`, name: "No Password" }));
value("get-user", admin, await admin.client.admin.getUser({ query: { id: daveId } }), (d) => d?.email === daveEmail);
step("get-user: unknown", admin, await admin.client.admin.getUser({ query: { id: "no-such-user" } }));
step("get-user: no id", admin, await admin.client.admin.getUser({ query: {} }));
value("update-user (admin)", admin, await admin.client.admin.updateUser({ userId: daveId, data: { name: "Dave B" } }), (d) => d?.name);
step("update-user (admin): no data", admin, await admin.client.admin.updateUser({ userId: daveId, data: {} }));
step("update-user (admin): password", admin, await admin.client.admin.updateUser({ userId: daveId, data: { password: "x" } }));
step("update-user (admin): unknown user", admin, await admin.client.admin.updateUser({ userId: "no-such-user", data: { name: "X" } }));
step("update-user (admin): not an admin", other, await other.client.admin.updateUser({ userId: daveId, data: { name: "X" } }));
step("set-user-password", admin, await admin.client.admin.setUserPassword({ userId: daveId, newPassword: "Admin-Set-4242" }));
step("set-user-password: weak", admin, await admin.client.admin.setUserPassword({ userId: daveId, newPassword: "short" }));
step("set-user-password: unknown user", admin, await admin.client.admin.setUserPassword({ userId: "no-such-user", newPassword: "Admin-Set-4242" }));
const dave = browser();
step("sign-in with the set password", dave, await dave.client.signIn.email({ email: daveEmail, password: "Admin-Set-4242" }));
const daveSessions = step("list-user-sessions: dave", admin, await admin.client.admin.listUserSessions({ userId: daveId }));
step("revoke-user-session", admin, await admin.client.admin.revokeUserSession({ sessionToken: daveSessions.data?.sessions?.[0]?.token ?? "none" }));
step("get-session: session revoked by the admin", dave, await dave.client.getSession());
value("has-permission", admin, await admin.client.admin.hasPermission({ permissions: { user: ["create", "ban"], session: ["revoke"] } }),
  (d) => d.success);
value("has-permission: a user", other, await other.client.admin.hasPermission({ permissions: { user: ["list"] } }), (d) => d.success);
step("has-permission: signed out", nobody, await nobody.client.admin.hasPermission({ permissions: { user: ["list"] } }));
step("stop-impersonating: not impersonating", admin, await admin.client.admin.stopImpersonating());
step("impersonate-user: not an admin", other, await other.client.admin.impersonateUser({ userId: daveId }));
const admin2 = browser();
step("admin sign-in again", admin2, await admin2.client.signIn.email({ email: process.env.ADMIN_EMAIL, password }));
step("impersonate-user", admin2, await admin2.client.admin.impersonateUser({ userId: daveId }));

// change-email and delete-user (enabled on both servers).
const carolEmail = `carol-${email}`, carolNew = `carol-new-${email}`;
const carol = browser();
step("sign-up: carol", carol, await carol.client.signUp.email({ name: "Carol", email: carolEmail, password }));
step("change-email: signed out", nobody, await nobody.client.changeEmail({ newEmail: carolNew }));
step("change-email: invalid address", carol, await carol.client.changeEmail({ newEmail: "not-an-address" }));
step("change-email: same address", carol, await carol.client.changeEmail({ newEmail: carolEmail }));
step("change-email: taken address", carol, await carol.client.changeEmail({ newEmail: email }));
step("change-email", carol, await carol.client.changeEmail({ newEmail: carolNew, callbackURL: "/changed" }));
const changeMail = await mailTo(carolNew);
const ctoken = changeMail.match(/\/api\/auth\/verify-email\?token=([A-Za-z0-9._-]+)/)?.[1];
step("get-session: before the link", carol, await carol.client.getSession());
const changed = step("verify-email: change of address", carol, await carol.client.verifyEmail({ query: { token: ctoken } }));
record.push({ step: "verify-email: change of address, verified", status: 200, value: changed.data?.user?.emailVerified ?? null });
step("verify-email: change link again", carol, await carol.client.verifyEmail({ query: { token: ctoken } }));
value("get-session: new address", carol, await carol.client.getSession(), (d) => d?.user?.email === carolNew);
step("sign-in: new address", other, await other.client.signIn.email({ email: carolNew, password }));
step("sign-in: old address", nobody, await nobody.client.signIn.email({ email: carolEmail, password }));

step("delete-user: signed out", nobody, await nobody.client.deleteUser({}));
step("delete-user: wrong password", carol, await carol.client.deleteUser({ password: "Wrong-Horse-42" }));
step("delete-user: unknown token", carol, await carol.client.deleteUser({ token: "nope" }));
const cb = await carol.fetch(`${baseURL}/api/auth/delete-user/callback?token=nope`, { method: "GET" });
record.push({ step: "delete-user/callback: unknown token", status: cb.status, code: (await cb.json().catch(() => null))?.code ?? null });
const cb2 = await fetch(`${baseURL}/api/auth/delete-user/callback?token=nope`);
record.push({ step: "delete-user/callback: signed out", status: cb2.status, code: (await cb2.json().catch(() => null))?.code ?? null });
step("delete-user", carol, await carol.client.deleteUser({ callbackURL: "/bye" }));
step("get-session: deleted user", carol, await carol.client.getSession());
step("get-session: deleted user's other session", other, await other.client.getSession());
step("sign-in: deleted user", nobody, await nobody.client.signIn.email({ email: carolNew, password }));

step("sign-out", alice, await alice.client.signOut());
step("get-session: after sign-out", alice, await alice.client.getSession());

// Requests a browser on another site could send.
const res = await fetch(`${baseURL}/api/auth/update-user`, {
  method: "POST",
  headers: { "Content-Type": "application/json", Cookie: "better-auth.session_token=x.y" },
  body: JSON.stringify({ name: "Mallory" }),
});
record.push({ step: "missing origin", status: res.status, shape: shape(await res.json().catch(() => null)) });
const res2 = await fetch(`${baseURL}/api/auth/sign-in/email`, {
  method: "POST",
  headers: { "Content-Type": "application/json", Origin: "https://evil.example" },
  body: JSON.stringify({ email, password }),
});
const body2 = await res2.json().catch(() => null);
record.push({ step: "untrusted origin", status: res2.status, code: body2?.code ?? null });
const res3 = await fetch(`${baseURL}/api/auth/no-such-endpoint`);
record.push({ step: "unknown endpoint", status: res3.status });

step("remove-user", admin, await admin.client.admin.removeUser({ userId }));
step("sign-in: removed user", other, await other.client.signIn.email({ email, password: "Reset-Horse-777" }));

console.log(JSON.stringify(record));
