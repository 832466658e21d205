/**
 * `queue_depth_growing`'s memory: depth samples of one queue, kept in the alert row's details
 * (`sluice.alerts`), so a new maintenance leader continues the chain.
 *
 * "Growing for W" means the available depth strictly grew from each sample to the next across
 * the whole window W, with one sample per W/15 (a minute for the default 15m). A constant
 * backlog is not growing: an equal sample one step later breaks the chain, and so does any
 * pass that sees the depth below the last sample. Sampling per step rather than per pass keeps
 * bursty arrivals between passes (every 2 s) from breaking a real trend.
 */

/** [unix ms, depth]: compact, since the samples are stored on every pass. */
export type DepthSample = [number, number];

const SAMPLES_PER_WINDOW = 15;

export interface DepthGrowth {
  /** The chain to store: the newest sample at or before the window start, then the rest. */
  samples: DepthSample[];
  /** How long the depth has grown without a pause: from the chain's first sample to now. */
  grewForMs: number;
  startDepth: number;
}

export function sampleDepth(
  stored: unknown,
  depth: number,
  atMs: number,
  windowMs: number,
): DepthGrowth {
  const step = Math.max(1, windowMs / SAMPLES_PER_WINDOW);
  let samples = validSamples(stored);
  const last = samples.at(-1);
  const due = last !== undefined && atMs - last[0] >= step;
  if (!last || atMs < last[0] || depth < last[1] || (due && depth === last[1])) {
    samples = [[atMs, depth]];
  } else if (due) {
    samples.push([atMs, depth]);
  }
  const from = atMs - windowMs;
  let first = 0;
  for (let i = 0; i < samples.length; i++) if (samples[i]![0] <= from) first = i;
  samples = samples.slice(first);
  const grewForMs = samples.length >= 2 ? atMs - samples[0]![0] : 0;
  return { samples, grewForMs, startDepth: samples[0]![1] };
}

/** Samples as stored by an earlier pass; anything else (an older format) starts a new chain. */
function validSamples(stored: unknown): DepthSample[] {
  if (!Array.isArray(stored)) return [];
  const ok = stored.every((s) =>
    Array.isArray(s) && s.length === 2 && typeof s[0] === "number" && typeof s[1] === "number"
  );
  return ok ? stored.map((s) => [s[0], s[1]] as DepthSample) : [];
}
