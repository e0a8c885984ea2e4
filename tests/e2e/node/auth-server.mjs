// A real Better Auth server for end-to-end tests, configured only by environment variables.
//
//   PORT                 port to listen on, on 127.0.0.1 (default 3000; 0 = any free port)
//   BASE_URL             Better Auth's baseURL (default http://127.0.0.1:$PORT); sets the tokens' iss/aud
//   BETTER_AUTH_SECRET   required, at least 32 characters
//   JWT_ALG              EdDSA (default) | ES256 | ES512 | RS256 | PS256  (JWT plugin signing key)
//   COOKIE_CACHE         off (default) | hs256 | jwks
//                          hs256: session.cookieCache { enabled, strategy: "jwt" } -> the
//                                 better-auth.session_data cookie is an HS256 JWT keyed with the secret
//                          jwks:  the same, plus jwt({ sessionCookieCache: true }) -> that cookie is
//                                 signed with the JWT plugin's key instead
//   STATIC_DIR           optional: serve files from this folder for every path outside /api/auth
//                        (the same origin then plays "the Next.js frontend that hosts Better Auth")
//   TRUSTED_ORIGINS      optional, comma-separated extra origins Better Auth accepts on POSTs
//
// Prints exactly one line "READY <baseURL>" on stdout once listening; everything else goes to
// stderr. Exits 0 on SIGTERM/SIGINT. Storage is in memory: every start makes a new signing key.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins";

const HOST = "127.0.0.1";

function fail(message) {
  process.stderr.write(`auth-server: ${message}\n`);
  process.exit(2);
}

const env = process.env;
const port = env.PORT === undefined || env.PORT === "" ? 3000 : Number(env.PORT);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT must be an integer 0-65535, got ${JSON.stringify(env.PORT)}`);

const secret = env.BETTER_AUTH_SECRET ?? "";
if (secret.length < 32) fail("BETTER_AUTH_SECRET is required and must be at least 32 characters");

const KEY_CONFIGS = {
  EdDSA: { alg: "EdDSA", crv: "Ed25519" },
  ES256: { alg: "ES256" },
  ES512: { alg: "ES512" },
  RS256: { alg: "RS256", modulusLength: 2048 },
  PS256: { alg: "PS256", modulusLength: 2048 },
};
const jwtAlg = env.JWT_ALG || "EdDSA";
if (!KEY_CONFIGS[jwtAlg]) fail(`JWT_ALG must be one of ${Object.keys(KEY_CONFIGS).join(", ")}, got ${JSON.stringify(jwtAlg)}`);

const cookieCache = (env.COOKIE_CACHE || "off").toLowerCase();
if (!["off", "hs256", "jwks"].includes(cookieCache)) fail(`COOKIE_CACHE must be off, hs256 or jwks, got ${JSON.stringify(env.COOKIE_CACHE)}`);

let staticDir = null;
if (env.STATIC_DIR) {
  staticDir = path.resolve(env.STATIC_DIR);
  if (!fs.statSync(staticDir, { throwIfNoEntry: false })?.isDirectory()) fail(`STATIC_DIR is not a directory: ${staticDir}`);
}

const trustedOrigins = (env.TRUSTED_ORIGINS || "").split(",").map((s) => s.trim()).filter(Boolean);

// When PORT=0 the real port is known only after listen(), so Better Auth is built afterwards.
function buildAuth(baseURL) {
  return betterAuth({
    baseURL,
    secret,
    trustedOrigins,
    telemetry: { enabled: false },
    rateLimit: { enabled: false },
    logger: {
      level: env.AUTH_LOG_LEVEL || "warn",
      log: (level, message, ...args) => {
        const extra = args.length ? " " + args.map((a) => (a instanceof Error ? a.message : JSON.stringify(a))).join(" ") : "";
        process.stderr.write(`auth-server [${level}] ${message}${extra}\n`);
      },
    },
    database: memoryAdapter({ user: [], session: [], account: [], verification: [], jwks: [] }),
    emailAndPassword: { enabled: true },
    session: cookieCache === "off" ? undefined : { cookieCache: { enabled: true, strategy: "jwt" } },
    plugins: [
      jwt({
        jwks: { keyPairConfig: KEY_CONFIGS[jwtAlg] },
        ...(cookieCache === "jwks" ? { sessionCookieCache: true } : {}),
      }),
    ],
  });
}

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

function serveStatic(req, res) {
  if (!staticDir) {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
    return;
  }
  let rel;
  try {
    rel = decodeURIComponent(new URL(req.url, "http://x").pathname);
  } catch {
    res.writeHead(400, { "content-type": "text/plain" }).end("bad path\n");
    return;
  }
  if (rel.endsWith("/")) rel += "index.html";
  const file = path.resolve(staticDir, "." + rel);
  if (file !== staticDir && !file.startsWith(staticDir + path.sep)) {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  fs.readFile(file, (err, body) => {
    if (err) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    res.writeHead(200, {
      "content-type": MIME[path.extname(file).toLowerCase()] || "application/octet-stream",
      "content-length": body.length,
      "cache-control": "no-store",
    });
    res.end(req.method === "HEAD" ? undefined : body);
  });
}

let authHandler = null;
const server = http.createServer((req, res) => {
  const pathname = (req.url || "/").split("?")[0];
  if (pathname === "/api/auth" || pathname.startsWith("/api/auth/")) {
    if (!authHandler) {
      res.writeHead(503, { "content-type": "text/plain" }).end("starting\n");
      return;
    }
    Promise.resolve(authHandler(req, res)).catch((err) => {
      process.stderr.write(`auth-server: handler error: ${err?.stack || err}\n`);
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end("internal error\n");
    });
    return;
  }
  serveStatic(req, res);
});
server.keepAliveTimeout = 5000;
server.requestTimeout = 30000;
server.headersTimeout = 10000;

server.on("error", (err) => fail(`cannot listen on ${HOST}:${port}: ${err.message}`));

server.listen(port, HOST, async () => {
  const actualPort = server.address().port;
  const baseURL = env.BASE_URL || `http://${HOST}:${actualPort}`;
  try {
    const auth = buildAuth(baseURL);
    await auth.$context; // finish Better Auth's async initialisation before announcing READY
    authHandler = toNodeHandler(auth);
  } catch (err) {
    fail(`Better Auth failed to start: ${err?.stack || err}`);
  }
  process.stdout.write(`READY ${baseURL}\n`);
});

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`auth-server: ${signal}, stopping\n`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));
