// Drives IntelliStack's better_auth_api through Caddy with the official
// better-auth client, as a browser front end would: createAuthClient with
// jwtClient, a cookie jar and the page's Origin on every request (what a
// browser adds by itself). Prints "ok <step>" per step and "ALL OK" at the
// end; any failure exits non-zero with the reason.
//
// Environment: BASE_URL (the site, e.g. https://localhost:8443), ORIGIN (a
// trusted origin), OUTBOX (the provider's mail outbox directory),
// ADMIN_EMAIL (a user with the role admin and the password below), GITHUB_URL
// (the provider's upstream github, a fake that answers its authorization
// page at once).
import { browser as makeBrowser, mails as outboxMails } from "./browser.mjs";

const baseURL = process.env.BASE_URL;
const origin = process.env.ORIGIN;
const outbox = process.env.OUTBOX;
const password = "Correct-Horse-42";

const browser = () => makeBrowser(baseURL, origin);

function check(cond, what, detail) {
  if (!cond) {
    console.error(`FAIL ${what}: ${JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok ${what}`);
}

function decode(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
}

const mails = (n) => outboxMails(outbox, n);

const email = `alice-${Date.now()}@example.com`;
const { client: alice, jar } = browser();

let r = await alice.signUp.email({ name: "Alice Example", email, password });
check(!r.error && r.data.token && r.data.user.email === email, "sign-up", r);
check([...jar.keys()].some((k) => k.endsWith("better-auth.session_token")), "session cookie", [...jar.keys()]);

const { client: other } = browser();
r = await other.signUp.email({ name: "Again", email, password });
check(r.error?.status === 422 && r.error.code === "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "existing e-mail", r.error);
r = await other.signUp.email({ name: "Weak", email: `weak-${email}`, password: "short" });
check(r.error?.status === 400 && r.error.code === "PASSWORD_TOO_SHORT", "weak password", r.error);
r = await other.signIn.email({ email, password: "Wrong-Horse-42" });
check(r.error?.status === 401 && r.error.code === "INVALID_EMAIL_OR_PASSWORD", "wrong password", r.error);

r = await other.signIn.email({ email, password });
check(!r.error && r.data.token && r.data.user.email === email, "sign-in", r);

r = await alice.getSession();
check(!r.error && r.data.user.email === email && r.data.session.userId === r.data.user.id, "get-session", r);
const userId = r.data.user.id;

r = await alice.token();
check(!r.error && decode(r.data.token).sub === userId, "token", r);
const jwks = await alice.jwks();
check(!jwks.error && jwks.data.keys.length > 0 && jwks.data.keys.some((k) => k.kid), "jwks", jwks);

r = await alice.updateUser({ name: "Alice B" });
check(!r.error && r.data.status === true, "update-user", r);

r = await alice.listSessions();
check(!r.error && r.data.length === 2, "list-sessions", r);
const otherSession = r.data.find((s) => s.token !== jar.get([...jar.keys()].find((k) => k.endsWith("session_token"))).split(".")[0]);
r = await alice.revokeSession({ token: otherSession.token });
check(!r.error && r.data.status === true, "revoke-session", r);
r = await other.getSession();
check(!r.error && r.data === null, "revoked session is gone", r);

r = await alice.changePassword({ currentPassword: password, newPassword: "New-Horse-4242" });
check(!r.error && r.data.token, "change-password", r);
r = await alice.changePassword({ currentPassword: "Wrong-Horse-42", newPassword: "New-Horse-4243" });
check(r.error?.status === 400 && r.error.code === "INVALID_PASSWORD", "change-password with a wrong password", r.error);

const before = (await mails(1)).length;
r = await other.requestPasswordReset({ email, redirectTo: "/reset" });
check(!r.error && r.data.status === true, "request-password-reset", r);
const resetMail = (await mails(before + 1)).at(-1);
const token = resetMail.match(/\/api\/auth\/reset-password\/([A-Za-z0-9_-]+)/)?.[1];
check(token, "reset mail", resetMail.slice(0, 200));
r = await other.resetPassword({ newPassword: "Reset-Horse-777", token });
check(!r.error && r.data.status === true, "reset-password", r);
r = await other.signIn.email({ email, password: "Reset-Horse-777" });
check(!r.error && r.data.token, "sign-in with the new password", r);

r = await other.sendVerificationEmail({ email, callbackURL: "/verified" });
check(!r.error && r.data.status === true, "send-verification-email", r);
const verifyMail = (await mails(before + 2)).at(-1);
const vtoken = verifyMail.match(/\/api\/auth\/verify-email\?token=([A-Za-z0-9_-]+)/)?.[1];
r = await other.verifyEmail({ query: { token: vtoken } });
check(!r.error && r.data.status === true, "verify-email", r);
r = await other.getSession();
check(r.data?.user.emailVerified === true, "verified", r);

r = await other.signOut();
check(!r.error && r.data.success === true, "sign-out", r);
r = await other.getSession();
check(!r.error && r.data === null, "signed out", r);

// The admin plugin.
const { client: admin } = browser();
r = await admin.signIn.email({ email: process.env.ADMIN_EMAIL, password });
check(!r.error && r.data.user.role === "admin", "admin sign-in", r);
r = await other.admin.listUsers({ query: { limit: 10 } });
check(r.error?.status === 401, "list-users needs a session", r.error);
r = await admin.admin.listUsers({ query: { limit: 10, searchValue: email } });
check(!r.error && r.data.total === 1 && r.data.users[0].id === userId && r.data.limit === 10, "list-users", r);
r = await admin.admin.setRole({ userId, role: ["student", "instructor"] });
check(!r.error && r.data.user.role === "student,instructor", "set-role", r);
r = await admin.admin.banUser({ userId, banReason: "spam", banExpiresIn: 3600 });
check(!r.error && r.data.user.banned === true && r.data.user.banReason === "spam", "ban-user", r);
r = await other.signIn.email({ email, password: "Reset-Horse-777" });
check(r.error?.status === 403 && r.error.code === "BANNED_USER", "banned sign-in", r.error);
r = await admin.admin.unbanUser({ userId });
check(!r.error && r.data.user.banned === false, "unban-user", r);
r = await other.signIn.email({ email, password: "Reset-Horse-777" });
check(!r.error && r.data.token, "sign-in after unban", r);
r = await admin.admin.revokeUserSessions({ userId });
check(!r.error && r.data.success === true, "revoke-user-sessions", r);
r = await other.getSession();
check(!r.error && r.data === null, "sessions revoked by the admin", r);

// Social sign-in: the client asks for GitHub's URL, the browser goes there
// and comes back to /api/auth/callback/github, which signs up the user and
// sends the browser to the newUserCallbackURL.
const { client: octo, fetch: octoFetch } = browser();
r = await octo.signIn.social({ provider: "github", callbackURL: "/dashboard", newUserCallbackURL: "/welcome", disableRedirect: true });
check(!r.error && r.data.url.startsWith(`${process.env.GITHUB_URL}/`) && r.data.redirect === false, "sign-in/social", r);
const atGitHub = await fetch(r.data.url, { redirect: "manual" });
const back = atGitHub.headers.get("location");
check(back?.startsWith(`${baseURL}/api/auth/callback/github?`), "github sends the browser back", back);
const landed = await octoFetch(back);
check(landed.status === 302 && landed.headers.get("location") === "/welcome", "social callback", landed.status);
r = await octo.getSession();
check(!r.error && r.data.user.email === "octo@example.com" && r.data.user.emailVerified === true, "social session", r);
r = await octo.signIn.social({ provider: "myspace" });
check(r.error?.status === 404 && r.error.code === "PROVIDER_NOT_FOUND", "unknown provider", r.error);

// A request with cookies but without a trusted Origin (a script on another site).
const res = await fetch(`${baseURL}/api/auth/update-user`, {
  method: "POST",
  headers: { "Content-Type": "application/json", Cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") },
  body: JSON.stringify({ name: "Mallory" }),
});
const body = await res.json();
check(res.status === 403 && body.code === "MISSING_OR_NULL_ORIGIN", "missing origin", body);

console.log("ALL OK");
