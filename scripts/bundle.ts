/**
 * `deno task bundle`: writes dist/sluice.js, one file that runs every subcommand from an empty
 * directory (`deno run -A dist/sluice.js up`), stamped with commit and build time
 * (see scripts/_build.ts).
 */
import { bundleStamped } from "./_build.ts";

const out = "dist/sluice.js";
const { commit } = await bundleStamped(out);
const size = (await Deno.stat(out)).size;
console.log(`wrote ${out} (${(size / 1024).toFixed(0)} KiB, commit ${commit})`);
