import { equal, rejects } from "node:assert/strict";
import { createEgress } from "../../src/delivery/egress.ts";
import { isSluiceError } from "../../src/errors.ts";

// A private CA and a leaf for 'hooks.test' (valid until 2126), made with openssl for these
// tests only: `openssl req -x509 … -subj "/CN=sluice test CA"`, then a leaf signed by it with
// subjectAltName=DNS:hooks.test.
const TLS = new URL("./_tls/", import.meta.url);
const read = (name: string) => Deno.readTextFileSync(new URL(name, TLS));

function startTlsServer() {
  const seen: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: read("cert.pem"), key: read("key.pem"), onListen() {} },
    (req) => {
      // HTTP/2 (ALPN) carries the name as :authority, which Deno puts in the URL.
      const u = new URL(req.url);
      seen.push(`${u.host} ${u.pathname}`);
      return Response.json({ ok: true });
    },
  );
  return { port: server.addr.port, seen, close: () => server.shutdown() };
}

Deno.test("createEgress() sends https through its tunnel to the checked address, TLS for the name", async () => {
  const s = startTlsServer();
  const lookups: string[] = [];
  const egress = createEgress({ deny: ["127.0.0.2/32"] }, {
    caCerts: [read("ca.pem")],
    // 'hooks.test' exists only here: the connection must go where this answer says.
    resolve: (host) => {
      lookups.push(host);
      return Promise.resolve(["127.0.0.1"]);
    },
  });
  try {
    for (const path of ["/a", "/b"]) {
      const res = await egress.fetch(new URL(`https://hooks.test:${s.port}${path}`), {
        method: "POST",
        body: "{}",
      });
      equal(res.status, 200);
      await res.body?.cancel();
    }
    equal(s.seen.length, 2);
    equal(s.seen[0], `hooks.test:${s.port} /a`);
    equal(lookups.length, 1, "verdicts are cached");
  } finally {
    await egress.close();
    await s.close();
  }
});

Deno.test("createEgress() refuses a denied https destination before connecting", async () => {
  const s = startTlsServer();
  const egress = createEgress({ deny: ["127.0.0.0/8"] }, {
    caCerts: [read("ca.pem")],
    resolve: () => Promise.resolve(["8.8.8.8", "127.0.0.1"]),
  });
  try {
    await rejects(
      egress.fetch(new URL(`https://hooks.test:${s.port}/`), { method: "POST" }),
      (e) => isSluiceError(e, "DESTINATION_DENIED"),
    );
    await rejects(
      egress.fetch(new URL(`https://[::ffff:127.0.0.1]:${s.port}/`), { method: "POST" }),
      (e) => isSluiceError(e, "DESTINATION_DENIED"),
    );
    equal(s.seen.length, 0);
  } finally {
    await egress.close();
    await s.close();
  }
});

Deno.test("createEgress() reports a name that does not resolve as a connection failure", async () => {
  const egress = createEgress({ deny: [] }, { resolve: () => Promise.resolve([]) });
  try {
    await rejects(
      egress.fetch(new URL("http://nowhere.test/"), { method: "POST" }),
      (e) => e instanceof TypeError && /does not resolve/.test(e.message),
    );
  } finally {
    await egress.close();
  }
});
