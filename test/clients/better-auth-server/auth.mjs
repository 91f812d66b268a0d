// The Better-Auth instance seed.mjs and server.mjs share: Better-Auth 1.7
// with email and password, change-email and delete-user, the jwt plugin
// and the admin plugin, on the
// PostgreSQL database at DATABASE_URL (through pg's Pool).
//
// Environment: DATABASE_URL (required), BETTER_AUTH_SECRET (Better-Auth's
// own default when unset), BASE_URL (default http://localhost:3000),
// TRUSTED_ORIGINS (comma-separated), OUTBOX (a folder: reset and
// verification mails are written there as .eml files, as IntelliStack's dev
// outbox does; without it they are dropped).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { betterAuth } from "better-auth";
import { admin, jwt } from "better-auth/plugins";
import pg from "pg";

let mailSeq = 0;

// sendMail writes one message to OUTBOX, named so that a sort by name is
// the order of sending.
function sendMail(to, subject, url) {
  const outbox = process.env.OUTBOX;
  if (!outbox) return;
  mkdirSync(outbox, { recursive: true });
  const name = `${Date.now().toString().padStart(15, "0")}-${String(mailSeq++).padStart(6, "0")}.eml`;
  const text = [`To: ${to}`, `Subject: ${subject}`, "Content-Type: text/plain; charset=utf-8", "", url, ""].join("\r\n");
  writeFileSync(join(outbox, name), text);
}

export function createAuth(env = process.env) {
  if (!env.DATABASE_URL) throw new Error("DATABASE_URL is required");
  const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: Number(env.PG_POOL_MAX || 10) });
  const auth = betterAuth({
    database: pool,
    secret: env.BETTER_AUTH_SECRET || undefined,
    baseURL: env.BASE_URL || "http://localhost:3000",
    trustedOrigins: (env.TRUSTED_ORIGINS || "").split(",").filter(Boolean),
    emailAndPassword: {
      enabled: true,
      sendResetPassword: async ({ user, url }) => sendMail(user.email, "Reset your password", url),
    },
    emailVerification: {
      sendVerificationEmail: async ({ user, url }) => sendMail(user.email, "Verify your e-mail address", url),
    },
    // On so that the compare test can diff them (Better-Auth has both off
    // by default); the change-email link goes to the new address.
    user: { changeEmail: { enabled: true }, deleteUser: { enabled: true } },
    plugins: [jwt(), admin()],
    telemetry: { enabled: false },
  });
  return { auth, pool };
}
