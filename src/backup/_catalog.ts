/**
 * What backup and restore learn from PostgreSQL's catalog instead of a hard-coded list, so a
 * table added by a later migration is backed up and restored without touching this code.
 */
import type { Db } from "../db/connect.ts";
import type { ArchiveTable } from "./archive.ts";

export const SCHEMA = "sluice";

/**
 * Session settings under which COPY text is written and read: fixed, so an archive does not
 * depend on the server's or the client's time zone or date style.
 */
export async function fixCopySettings(tx: Db): Promise<void> {
  await tx`SET LOCAL TimeZone = 'UTC'`;
  await tx`SET LOCAL DateStyle = 'ISO, YMD'`;
  await tx`SET LOCAL IntervalStyle = 'postgres'`;
  await tx`SET LOCAL bytea_output = 'hex'`;
  await tx`SET LOCAL extra_float_digits = 1`;
}

/** `sluice.<name>` for postgres.js's identifier escaping (it splits on the dot). */
export function qualified(name: string): string {
  return `${SCHEMA}.${name}`;
}

/**
 * Plain tables of the schema with their stored columns (generated columns are recomputed by
 * PostgreSQL and COPY FROM refuses them), ordered so that every table comes after the tables
 * its foreign keys reference; ties by name, so the order is stable.
 */
export async function listTables(sql: Db): Promise<ArchiveTable[]> {
  const tables = await sql<{ name: string; columns: string[] }[]>`
    SELECT c.relname AS name, array_agg(a.attname::text ORDER BY a.attnum) AS columns
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attgenerated = ''
    WHERE n.nspname = ${SCHEMA} AND c.relkind = 'r'
    GROUP BY c.relname
    ORDER BY c.relname`;
  const edges = await sql<{ child: string; parent: string }[]>`
    SELECT ch.relname AS child, pa.relname AS parent
    FROM pg_constraint co
    JOIN pg_class ch ON ch.oid = co.conrelid
    JOIN pg_class pa ON pa.oid = co.confrelid
    JOIN pg_namespace n ON n.oid = co.connamespace
    WHERE co.contype = 'f' AND n.nspname = ${SCHEMA} AND ch.oid <> pa.oid`;
  return loadOrder(tables.map((t) => ({ name: t.name, columns: [...t.columns] })), edges);
}

function loadOrder(
  tables: ArchiveTable[],
  edges: { child: string; parent: string }[],
): ArchiveTable[] {
  const out: ArchiveTable[] = [];
  const placed = new Set<string>();
  const names = new Set(tables.map((t) => t.name));
  let rest = tables;
  while (rest.length > 0) {
    const ready = rest.filter((t) =>
      edges.every((e) => e.child !== t.name || placed.has(e.parent) || !names.has(e.parent))
    );
    // A foreign-key cycle cannot be ordered; load the rest as they come (the restore then
    // fails loudly rather than silently, and nothing is committed).
    const batch = ready.length > 0 ? ready : rest;
    for (const t of batch) {
      out.push(t);
      placed.add(t.name);
    }
    rest = rest.filter((t) => !placed.has(t.name));
  }
  return out;
}

export async function tableRowCount(sql: Db, name: string): Promise<number> {
  const [row] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM ${sql(qualified(name))}`;
  return Number(row!.n);
}

/** Sequences of the schema and their last value (null: never used). */
export async function listSequences(
  sql: Db,
): Promise<{ name: string; lastValue: string | null }[]> {
  const rows = await sql<{ name: string; last_value: string | null }[]>`
    SELECT sequencename AS name, last_value FROM pg_sequences
    WHERE schemaname = ${SCHEMA} ORDER BY sequencename`;
  return rows.map((r) => ({ name: r.name, lastValue: r.last_value }));
}

/** For each sequence owned by a column (identity, serial): that table and column. */
export async function sequenceOwners(
  sql: Db,
): Promise<Map<string, { table: string; column: string }>> {
  const rows = await sql<{ seq: string; tbl: string; col: string }[]>`
    SELECT s.relname AS seq, t.relname AS tbl, a.attname AS col
    FROM pg_class s
    JOIN pg_namespace n ON n.oid = s.relnamespace
    JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
      AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    JOIN pg_class t ON t.oid = d.refobjid
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
    WHERE s.relkind = 'S' AND n.nspname = ${SCHEMA}`;
  return new Map(rows.map((r) => [r.seq, { table: r.tbl, column: r.col }]));
}

export async function schemaExists(sql: Db): Promise<boolean> {
  const [row] = await sql<{ exists: boolean }[]>`
    SELECT to_regnamespace(${SCHEMA}) IS NOT NULL AS exists`;
  return row!.exists;
}

/** Highest applied migration, 0 when the schema or its migrations table is missing. */
export async function schemaVersion(sql: Db): Promise<number> {
  const [row] = await sql<{ exists: boolean }[]>`
    SELECT to_regclass('sluice.schema_migrations') IS NOT NULL AS exists`;
  if (!row!.exists) return 0;
  const [v] = await sql<{ v: number }[]>`
    SELECT coalesce(max(version), 0)::int AS v FROM sluice.schema_migrations`;
  return v!.v;
}
