import { equal, match } from "node:assert/strict";
import {
  absolute,
  age,
  clock,
  fmt,
  humanizeTimes,
  isIsoTime,
  label,
  relative,
} from "../../static/format.js";

const NOW = Date.parse("2026-12-04T01:00:00.000Z");

Deno.test("relative() says how far a time is from now, both ways", () => {
  equal(relative("2026-12-04T00:55:00.000Z", NOW), "5m ago");
  equal(relative("2026-12-04T03:00:00.000Z", NOW), "in 2h");
  equal(relative("2026-12-01T01:00:00.000Z", NOW), "3d ago");
  equal(relative("2026-12-04T01:00:00.400Z", NOW), "just now");
  equal(relative(null, NOW), "—");
});

Deno.test("age() shows two units at most", () => {
  equal(age(42_000), "42s");
  equal(age(185_000), "3m 5s");
  equal(age(7_800_000), "2h 10m");
  equal(age(100_800_000), "1d 4h");
  equal(age(null), "—");
});

Deno.test("humanizeTimes() replaces ISO timestamps in a sentence, nothing else", () => {
  const iso = "2026-12-04T01:05:00.000Z";
  const out = humanizeTimes(`Job 42 is scheduled to run at ${iso} (attempt 2).`, NOW);
  equal(out.includes(iso), false, out);
  match(out, /^Job 42 is scheduled to run at .+ \(in 5m\) \(attempt 2\)\.$/);
  equal(out.includes(new Date(iso).toLocaleString()), true);
  equal(humanizeTimes("no times here, 2026-12-04 only", NOW), "no times here, 2026-12-04 only");
});

Deno.test("label() turns field names into header words", () => {
  equal(label("consecutiveFailures"), "Consecutive failures");
  equal(label("tokenName"), "Token name");
  equal(label("openUntil"), "Open until");
  equal(label("origin"), "Origin");
  equal(label("dead_reason"), "Dead reason");
});

Deno.test("clock() is HH:MM in local time", () => {
  const d = new Date(2026, 11, 4, 9, 7, 30);
  equal(clock(d.getTime()), "09:07");
});

Deno.test("fmt(), absolute() and isIsoTime() handle missing values", () => {
  equal(fmt(null), "—");
  equal(fmt(1234), (1234).toLocaleString());
  equal(absolute(null), "—");
  match(absolute("2026-12-04T01:00:00.000Z"), /\(2026-12-04T01:00:00\.000Z\)$/);
  equal(isIsoTime("2026-12-04T01:00:00Z"), true);
  equal(isIsoTime("tomorrow"), false);
  equal(isIsoTime(5), false);
});
