// A real Better-Auth 1.7 server (auth.mjs: email and password, jwt and
// admin plugins) on PostgreSQL, serving /api/auth on PORT (default 3000),
// for comparing IntelliStack's better_auth_api with it and benchmarking
// both. With MIGRATE=1 it runs Better-Auth's migrations first. Prints
// "listening <port>" once it accepts connections; stops on SIGTERM/SIGINT.
import { createServer } from "node:http";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { createAuth } from "./auth.mjs";

const { auth, pool } = createAuth();
if (process.env.MIGRATE === "1") {
  const { runMigrations } = await getMigrations(auth.options);
  await runMigrations();
}
const handler = toNodeHandler(auth);
const server = createServer((req, res) => {
  if (req.url === "/healthz") {
    res.end("ok");
    return;
  }
  handler(req, res);
});
const port = Number(process.env.PORT || 3000);
server.listen(port, process.env.HOST || "127.0.0.1", () => console.log(`listening ${server.address().port}`));
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => server.close(() => pool.end().then(() => process.exit(0))));
}
