import { equal, rejects } from "node:assert/strict";
import { JwksCache, type JwksSource } from "../../src/auth/jwks_cache.ts";
import { OidcVerifier } from "../../src/auth/oidc_verifier.ts";
import { isSluiceError } from "../../src/errors.ts";
import { createLogger } from "../../src/obs/log.ts";
import { Registry } from "../../src/obs/metrics.ts";
import { newKey, startIssuer } from "./_issuer.ts";

function verifierOf(issuer: string, source: JwksSource, clock: { t: number }) {
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (l) => logs.push(JSON.parse(l)) });
  const registry = new Registry();
  const jwks = new JwksCache(source, {
    log,
    registry,
    refreshMs: 600_000,
    minRefetchMs: 30_000,
    maxStaleMs: 3_600_000,
    now: () => clock.t,
  });
  const verifier = new OidcVerifier({ issuer, audiences: ["sluice-api"], clockSkewMs: 0, jwks });
  const fetches = (result: string) =>
    registry.counter("sluice_oidc_jwks_fetches_total", "", ["result"]).get({ result });
  return { jwks, verifier, logs, fetches };
}

const refusedWith = (code: string) => (e: unknown) => isSluiceError(e) && e.code === code;

Deno.test("JwksCache: a rotation mid-run is picked up on the first token with the new kid", async () => {
  const issuer = await startIssuer();
  try {
    const clock = { t: 1_000_000 };
    const { verifier } = verifierOf(issuer.url, { kind: "discovery", issuer: issuer.url }, clock);
    await verifier.verify(await issuer.sign());
    equal(issuer.fetches, 1);
    // Known kid within refreshMs: no fetch per token.
    await verifier.verify(await issuer.sign());
    equal(issuer.fetches, 1);
    const next = await issuer.rotate({ dropOld: true });
    clock.t += 1_000;
    await verifier.verify(await issuer.sign({}, { key: next }));
    equal(issuer.fetches, 2);
  } finally {
    await issuer.close();
  }
});

Deno.test("JwksCache: unknown kids refetch at most once per minRefetchMs", async () => {
  const issuer = await startIssuer();
  try {
    const clock = { t: 1_000_000 };
    const { verifier } = verifierOf(issuer.url, { kind: "url", url: `${issuer.url}/jwks` }, clock);
    await verifier.verify(await issuer.sign());
    for (let i = 0; i < 5; i++) {
      const stray = await newKey("ES256");
      await rejects(
        verifier.verify(await issuer.sign({}, { key: stray })),
        refusedWith("SIGNATURE_INVALID"),
      );
      clock.t += 1_000;
    }
    // One initial fetch, one refetch for the first stray kid; the next four are within 30 s.
    equal(issuer.fetches, 2);
    clock.t += 30_000;
    await rejects(
      verifier.verify(await issuer.sign({}, { key: await newKey() })),
      refusedWith("SIGNATURE_INVALID"),
    );
    equal(issuer.fetches, 3);
  } finally {
    await issuer.close();
  }
});

Deno.test("JwksCache: an issuer that goes down is served from the last good keys, for a bounded time", async () => {
  const issuer = await startIssuer();
  try {
    const clock = { t: 1_000_000 };
    const { verifier, logs, fetches } = verifierOf(
      issuer.url,
      { kind: "discovery", issuer: issuer.url },
      clock,
    );
    await verifier.verify(await issuer.sign());
    issuer.down();
    // Past refreshMs: the refresh fails, the last good keys still verify.
    clock.t += 700_000;
    await verifier.verify(await issuer.sign());
    equal(logs.filter((l) => l.msg === "jwks_fetch_failed").length, 1);
    // Past maxStaleMs since the last success: refused as the provider's fault (503).
    clock.t += 3_000_000;
    await rejects(verifier.verify(await issuer.sign()), refusedWith("JWKS_UNAVAILABLE"));
    // Back up: the next attempt (past minRefetchMs) fetches again and tokens verify.
    issuer.up();
    clock.t += 30_000;
    await verifier.verify(await issuer.sign());
    // Counted for the operator: sluice_oidc_jwks_fetches_total{result}.
    equal(fetches("failed"), 2);
    equal(fetches("ok"), 2);
  } finally {
    await issuer.close();
  }
});

Deno.test("JwksCache: a JWKS file is read again after refreshMs, so replacing it rotates", async () => {
  const issuer = await startIssuer();
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/jwks.json`;
    const write = () =>
      Deno.writeTextFile(path, JSON.stringify({ keys: issuer.keys.map((k) => k.publicJwk) }));
    await write();
    const clock = { t: 1_000_000 };
    const { verifier } = verifierOf(issuer.url, { kind: "file", path }, clock);
    await verifier.verify(await issuer.sign());
    const next = await issuer.rotate({ dropOld: true });
    await write();
    // A new kid re-reads at once (the file costs nothing to read).
    clock.t += 1_000;
    await verifier.verify(await issuer.sign({}, { key: next }));
    equal(issuer.fetches, 0);
  } finally {
    await issuer.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("JwksCache: discovery naming another issuer is a failed fetch", async () => {
  const issuer = await startIssuer();
  try {
    const clock = { t: 1_000_000 };
    // The issuer's discovery document says `<url>`, not `<url>/`.
    const other = `${issuer.url}/`;
    const { verifier } = verifierOf(other, { kind: "discovery", issuer: other }, clock);
    await rejects(
      verifier.verify(await issuer.sign({ iss: other })),
      refusedWith("JWKS_UNAVAILABLE"),
    );
  } finally {
    await issuer.close();
  }
});
