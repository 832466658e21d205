/**
 * A local OIDC issuer for tests: keys generated per run with jose, discovery and JWKS served on
 * 127.0.0.1, tokens minted with any claims. `rotate()` adds a key (and can drop the old one),
 * `down()` makes every request fail with 503 until `up()`; `fetches` counts JWKS requests.
 */
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";

export interface TestKey {
  kid: string;
  alg: "RS256" | "ES256";
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export interface TestIssuer {
  url: string;
  keys: TestKey[];
  /** JWKS requests answered (or refused while down). */
  fetches: number;
  /** A signed ID token: iss, sub, aud, iat, exp (10 min) filled unless given. */
  sign(claims?: JWTPayload, opts?: { key?: TestKey; header?: Record<string, unknown> }): Promise<
    string
  >;
  /** A new key published (first); `dropOld` removes the ones before it from the JWKS. */
  rotate(opts?: { dropOld?: boolean }): Promise<TestKey>;
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export async function newKey(alg: "RS256" | "ES256" = "RS256"): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `k-${crypto.randomUUID().slice(0, 8)}`;
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg } };
}

export async function startIssuer(): Promise<TestIssuer> {
  let keys = [await newKey()];
  let isDown = false;
  let url = "";
  const issuer: TestIssuer = {
    get url() {
      return url;
    },
    get keys() {
      return keys;
    },
    fetches: 0,
    async sign(claims = {}, { key = keys[0]!, header = {} } = {}) {
      const now = Math.floor(Date.now() / 1000);
      return await new SignJWT({
        iss: url,
        sub: "workload-1",
        aud: "sluice-api",
        iat: now,
        exp: now + 600,
        ...claims,
      }).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...header }).sign(
        key.privateKey,
      );
    },
    async rotate({ dropOld = false } = {}) {
      const k = await newKey();
      keys = dropOld ? [k] : [k, ...keys];
      return k;
    },
    down: () => (isDown = true),
    up: () => (isDown = false),
    close: () => server.shutdown(),
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/jwks") issuer.fetches++;
    if (isDown) return new Response("down", { status: 503 });
    if (path === "/.well-known/openid-configuration") {
      return Response.json({ issuer: url, jwks_uri: `${url}/jwks` });
    }
    if (path === "/jwks") return Response.json({ keys: keys.map((k) => k.publicJwk) });
    return new Response("not found", { status: 404 });
  });
  url = `http://127.0.0.1:${server.addr.port}`;
  return issuer;
}

/** base64url of a JSON value or bytes (for hand-made tokens: alg none, HS256 confusion). */
export function b64url(v: unknown): string {
  const bytes = v instanceof Uint8Array ? v : new TextEncoder().encode(JSON.stringify(v));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}
