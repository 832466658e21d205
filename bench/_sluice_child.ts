/**
 * One Sluice run of workloads 1–3 in its own process (as each competitor runs in its own Node
 * process), for bench/compare.ts:
 *
 *   deno run -A bench/_sluice_child.ts '{"db":{host,port,user,database},"w":{…Workloads}}'
 *
 * Prints one JSON line (SystemFigures).
 */
import { connectTo } from "../src/db/connect.ts";
import { runSluiceWorkloads, type Workloads } from "./_sluice.ts";

const arg = JSON.parse(Deno.args[0]!) as {
  db: { host: string; port: number; user: string; database: string };
  w: Workloads;
};
const sql = connectTo({ ...arg.db, username: arg.db.user });
try {
  const out = await runSluiceWorkloads(sql, arg.w);
  console.log(JSON.stringify(out));
} finally {
  await sql.end();
}
