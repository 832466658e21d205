/**
 * The attack of issue #14, for tests: someone who can write an archive edits it and recomputes
 * every plain checksum, re-framing it with Sluice's own reader and writer. Only a backup key
 * tells the result apart from a genuine archive.
 */
import {
  type ArchiveEvent,
  type ArchiveHeader,
  type ArchiveTrailer,
  ArchiveWriter,
  readArchive,
} from "../../src/backup/archive.ts";
import type { BackupSigner } from "../../src/backup/key.ts";

export interface Forgery {
  /** Rows to append to a table, as column → COPY text value (missing columns are `\N`). */
  append: { table: string; rows: Record<string, string>[] };
  /**
   * How the forged archive is signed: `"copy"` keeps the original's key id and MAC (the best
   * an attacker without the key can do), null leaves it unsigned, or a signer of one's own.
   */
  sign: "copy" | null | BackupSigner;
}

export async function forgeArchive(from: string, to: string, forgery: Forgery): Promise<void> {
  const f = await Deno.open(from, { read: true });
  const events: ArchiveEvent[] = await Array.fromAsync(readArchive(f.readable, from));
  let header: ArchiveHeader | null = null;
  let trailer: ArchiveTrailer | null = null;
  for (const e of events) {
    if (e.type === "header") header = e.header;
    if (e.type === "trailer") trailer = e.trailer;
  }
  if (!header || !trailer) throw new Error(`'${from}' is incomplete`);
  let key: BackupSigner | null;
  if (forgery.sign === "copy") {
    const copied = trailer.signature;
    if (!copied) throw new Error(`'${from}' is unsigned: nothing to copy`);
    key = { keyId: copied.keyId, mac: () => copied.mac };
  } else key = forgery.sign;

  const file = await Deno.open(to, { write: true, create: true, truncate: true });
  const out = new ArchiveWriter(file.writable, { key });
  const { signedWith: _, ...unsignedHeader } = header;
  await out.header(unsignedHeader);
  for (const e of events) {
    if (e.type === "table") await out.beginTable(e.table.name);
    if (e.type === "data") await out.data(e.chunk);
    if (e.type === "tableEnd") {
      if (e.summary.name === forgery.append.table) {
        const columns = header.tables.find((t) => t.name === e.summary.name)!.columns;
        const text = forgery.append.rows
          .map((r) => columns.map((c) => r[c] ?? "\\N").join("\t") + "\n")
          .join("");
        await out.data(new TextEncoder().encode(text));
      }
      await out.endTable();
    }
  }
  await out.finish({ sequences: trailer.sequences, finishedAt: trailer.finishedAt });
}
