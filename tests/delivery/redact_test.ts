import { deepStrictEqual, equal } from "node:assert/strict";
import {
  redactCommand,
  redactDelivery,
  redactUrl,
  redactUrlsIn,
} from "../../src/delivery/redact.ts";

Deno.test("redactUrl() keeps scheme, host, port and path; masks userinfo, query values, fragment", () => {
  equal(
    redactUrl("https://user:hunter2@hooks.example.com:8443/in/x?api_key=sekrit&v=2#frag"),
    "https://***@hooks.example.com:8443/in/x?api_key=***&v=***#***",
  );
  equal(redactUrl("http://hooks.example.com/in"), "http://hooks.example.com/in");
  equal(redactUrl("http://tok@[::1]:9/?sekrit"), "http://***@[::1]:9/?***");
  equal(redactUrl("not a url"), "***");
  equal(
    redactUrlsIn("error sending request for url (https://u:p@h.example/p?k=v): refused"),
    "error sending request for url (https://***@h.example/p?k=***): refused",
  );
});

Deno.test("redactCommand() keeps the program name only", () => {
  equal(redactCommand("python3 /app/handle.py --token sekrit"), "python3 ***");
  equal(redactCommand("API_KEY=sekrit ./handler"), "***");
  equal(redactCommand("./handler"), "./handler");
  deepStrictEqual(redactCommand(["/bin/sh", "-c", "curl -H 'x: sekrit' …"]), ["/bin/sh", "***"]);
  deepStrictEqual(redactCommand(["/usr/bin/handler"]), ["/usr/bin/handler"]);
});

Deno.test("redactDelivery() masks header values and leaves pull and inline alone", () => {
  deepStrictEqual(
    redactDelivery({
      mode: "http",
      url: "https://h.example/?a=1",
      timeoutMs: 5_000,
      headers: { authorization: "Bearer sekrit", "x-tenant": "7" },
    }),
    {
      mode: "http",
      url: "https://h.example/?a=***",
      timeoutMs: 5_000,
      headers: { authorization: "***", "x-tenant": "***" },
    },
  );
  deepStrictEqual(redactDelivery({ mode: "pull" }), { mode: "pull" });
});
