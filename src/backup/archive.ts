/**
 * The backup archive format, version 1: a gzip stream (so `gunzip` can open it) of
 *
 *   magic "SLUICEBK" (8 bytes), then frames: type (1 ASCII byte), length (uint32 BE), payload
 *
 *   H  header   JSON `ArchiveHeader`: format version, Sluice version, schema version, time,
 *               the tables in load order with their columns
 *   T  table    JSON `{ "name" }`: a table section starts
 *   D  data     a piece of that table's `COPY … TO STDOUT` text (≤ 1 MiB per frame)
 *   E  end      JSON `TableSummary`: rows, bytes and sha-256 of the section's COPY text
 *   Z  trailer  JSON `ArchiveTrailer`: every table's summary again, sequence values, totals,
 *               the sha-256 of every archive byte before this frame, and with a backup key
 *               its HMAC (see "Signing" below)
 *
 * Counts and checksums are known only once a table's COPY ended, so they follow the data
 * (E frames) and are repeated in the trailer; nothing is buffered to write them first, which
 * keeps memory flat in the size of the database. The reader verifies each E frame before it
 * reports the section as complete, and the trailer before it reports the archive as complete,
 * so a consumer (restore) that commits only after the trailer never commits a damaged archive.
 */
import { createHash, type Hash } from "node:crypto";
import { SluiceError } from "../errors.ts";
import { type BackupSigner, macMatches, SIGNATURE_ALG } from "./key.ts";

export const ARCHIVE_FORMAT = "sluice-backup";
export const ARCHIVE_FORMAT_VERSION = 1;
const MAGIC = new TextEncoder().encode("SLUICEBK");
/** Data frames are cut at this size; anything larger in an archive is damage. */
const DATA_FRAME_BYTES = 1 << 20;
const MAX_FRAME_BYTES = 16 << 20;
const NEWLINE = 0x0a;

export interface ArchiveTable {
  name: string;
  /** Column order of the COPY text (generated columns are left out: PostgreSQL recomputes). */
  columns: string[];
}

export interface ArchiveHeader {
  format: typeof ARCHIVE_FORMAT;
  formatVersion: number;
  sluiceVersion: string;
  sluiceCommit: string;
  /** Highest applied migration in the backed-up database. */
  schemaVersion: number;
  /** The snapshot's time (PostgreSQL `now()` of the backup transaction), ISO 8601. */
  createdAt: string;
  database: { name: string; serverVersion: string };
  /** In load order: a table comes after the tables its foreign keys point to. */
  tables: ArchiveTable[];
  /**
   * The backup key that signs the trailer, or null (unsigned). Declared up front so a reader
   * holding another key, or expecting a signature, refuses before loading anything. Archives
   * written before keys existed lack the field: read as null.
   */
  signedWith: { alg: typeof SIGNATURE_ALG; keyId: string } | null;
}

export interface TableSummary {
  name: string;
  rows: number;
  /** Bytes of COPY text (uncompressed). */
  bytes: number;
  sha256: string;
}

export interface ArchiveTrailer {
  tables: TableSummary[];
  /** Sequences of the schema with their last value when the backup ended (a floor). */
  sequences: { name: string; lastValue: string | null }[];
  totalRows: number;
  totalBytes: number;
  /** sha-256 of the uncompressed archive from the magic up to (not including) this frame. */
  archiveSha256: string;
  finishedAt: string;
  /** Present when the header's `signedWith` is: the HMAC of `signedMessage(the rest)`. */
  signature?: { alg: typeof SIGNATURE_ALG; keyId: string; mac: string };
}

// ---------------------------------------------------------------------------------------------
// Signing

/**
 * What the backup key signs: the trailer without its signature, whose `archiveSha256` the reader
 * checks against every byte before the trailer first, so the MAC covers the whole archive
 * (header, data, table ends, trailer) at the cost of one HMAC over a small JSON text. JSON as
 * `JSON.stringify` writes it: the reader re-serializes what it parsed, so any change to a value
 * it trusts changes the message.
 */
function signedMessage(unsigned: Omit<ArchiveTrailer, "signature">): Uint8Array {
  return new TextEncoder().encode(`sluice-backup-signature-v1\n${JSON.stringify(unsigned)}`);
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * Writes an archive into `sink` through gzip. Every method awaits the compressor, so a slow
 * sink slows the producer instead of growing a buffer.
 */
export class ArchiveWriter {
  readonly #key: BackupSigner | null;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #piped: Promise<void>;
  readonly #archiveHash = createHash("sha256");
  #table: { name: string; rows: number; bytes: number; hash: Hash } | null = null;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  readonly #summaries: TableSummary[] = [];
  /** Compressed bytes handed to the sink so far. */
  compressedBytes = 0;

  /** `key`: sign the archive with it (null: unsigned, checksums only). */
  constructor(
    sink: WritableStream<Uint8Array>,
    { key = null }: { key?: BackupSigner | null } = {},
  ) {
    this.#key = key;
    const gzip = new CompressionStream("gzip");
    this.#writer = (gzip.writable as WritableStream<Uint8Array>).getWriter();
    const count = new TransformStream<Uint8Array, Uint8Array>({
      transform: (chunk, ctl) => {
        this.compressedBytes += chunk.byteLength;
        ctl.enqueue(chunk);
      },
    });
    this.#piped = gzip.readable.pipeThrough(count).pipeTo(sink);
    // Surfaced by the next write or by close(); this keeps it from being reported unhandled.
    this.#piped.catch(() => {});
  }

  /** Rows written so far in the open table (for progress). */
  get tableRows(): number {
    return this.#table?.rows ?? 0;
  }

  /** Writes the header with `signedWith` set from the writer's key; returns what it wrote. */
  async header(h: Omit<ArchiveHeader, "signedWith">): Promise<ArchiveHeader> {
    const key = this.#key;
    const header = { ...h, signedWith: key ? { alg: SIGNATURE_ALG, keyId: key.keyId } : null };
    await this.#raw(MAGIC);
    await this.#frame("H", json(header));
    return header;
  }

  async beginTable(name: string): Promise<void> {
    if (this.#table) throw new Error(`table '${this.#table.name}' is still open`);
    this.#table = { name, rows: 0, bytes: 0, hash: createHash("sha256") };
    await this.#frame("T", json({ name }));
  }

  /**
   * A piece of the open table's COPY text. postgres.js hands COPY out one row per chunk, so
   * pieces are gathered, then counted, hashed and framed per ~1 MiB: per-row hashing and
   * awaiting cost more than the COPY itself. Returns a promise only when it wrote a frame.
   */
  data(chunk: Uint8Array): Promise<void> | undefined {
    if (!this.#table) throw new Error("data outside a table section");
    // A copy: the chunk's memory may be reused once we return.
    this.#pending.push(chunk.slice());
    this.#pendingBytes += chunk.byteLength;
    return this.#pendingBytes >= DATA_FRAME_BYTES ? this.#flushData() : undefined;
  }

  async endTable(): Promise<TableSummary> {
    const t = this.#table;
    if (!t) throw new Error("no open table");
    await this.#flushData();
    const summary = { name: t.name, rows: t.rows, bytes: t.bytes, sha256: t.hash.digest("hex") };
    this.#table = null;
    this.#summaries.push(summary);
    await this.#frame("E", json(summary));
    return summary;
  }

  /** Writes the trailer and closes the stream; resolves when the sink has everything. */
  async finish(
    t: Omit<ArchiveTrailer, "tables" | "totalRows" | "totalBytes" | "archiveSha256">,
  ): Promise<ArchiveTrailer> {
    const unsigned: ArchiveTrailer = {
      tables: this.#summaries,
      sequences: t.sequences,
      totalRows: this.#summaries.reduce((n, s) => n + s.rows, 0),
      totalBytes: this.#summaries.reduce((n, s) => n + s.bytes, 0),
      archiveSha256: this.#archiveHash.digest("hex"),
      finishedAt: t.finishedAt,
    };
    const key = this.#key;
    const trailer: ArchiveTrailer = key
      ? {
        ...unsigned,
        signature: { alg: SIGNATURE_ALG, keyId: key.keyId, mac: key.mac(signedMessage(unsigned)) },
      }
      : unsigned;
    await this.#frame("Z", json(trailer), { hashed: false });
    await this.#writer.close();
    await this.#piped;
    return trailer;
  }

  /** Ends the stream after a failure; the sink sees an error, not a plausible archive. */
  async abort(reason: unknown): Promise<void> {
    await this.#writer.abort(reason).catch(() => {});
    await this.#piped.catch(() => {});
  }

  async #flushData(): Promise<void> {
    if (this.#pendingBytes === 0) return;
    const t = this.#table!;
    const all = concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    t.rows += countNewlines(all);
    t.bytes += all.byteLength;
    t.hash.update(all);
    for (let at = 0; at < all.byteLength; at += DATA_FRAME_BYTES) {
      await this.#frame("D", all.subarray(at, at + DATA_FRAME_BYTES));
    }
  }

  async #frame(type: string, payload: Uint8Array, { hashed = true } = {}): Promise<void> {
    const head = new Uint8Array(5);
    head[0] = type.charCodeAt(0);
    new DataView(head.buffer).setUint32(1, payload.byteLength);
    if (hashed) {
      this.#archiveHash.update(head);
      this.#archiveHash.update(payload);
    }
    await this.#writer.write(head);
    await this.#writer.write(payload);
  }

  async #raw(bytes: Uint8Array): Promise<void> {
    this.#archiveHash.update(bytes);
    await this.#writer.write(bytes);
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

export type ArchiveEvent =
  | { type: "header"; header: ArchiveHeader }
  | { type: "table"; table: ArchiveTable }
  /** `rows`: complete rows in this chunk (newlines), for progress. */
  | { type: "data"; table: string; chunk: Uint8Array; rows: number }
  /** Emitted only after the section's rows, bytes and checksum matched its E frame. */
  | { type: "tableEnd"; summary: TableSummary }
  /** Emitted only after the whole archive verified; nothing may follow it. */
  | { type: "trailer"; trailer: ArchiveTrailer };

export interface ReadOptions {
  /**
   * The backup key: the archive must be signed with it (`BACKUP_UNSIGNED`, `BACKUP_KEY_MISMATCH`,
   * refused at the header; `BACKUP_SIGNATURE_INVALID` at the trailer). Null or absent: the
   * signature is not checked (checksums catch damage, not tampering; callers say so).
   */
  key?: BackupSigner | null;
}

/**
 * Reads and verifies an archive as a stream of events. Any damage — bad gzip, a truncated
 * stream, a wrong magic, a malformed frame, a count or checksum that does not match — throws
 * `ARCHIVE_INVALID` naming what is wrong; `source` says which file, for the message.
 */
export async function* readArchive(
  input: ReadableStream<Uint8Array>,
  source = "archive",
  { key = null }: ReadOptions = {},
): AsyncGenerator<ArchiveEvent> {
  const bytes = new ByteReader(
    input.pipeThrough(
      new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
    ),
    source,
  );
  try {
    yield* readFrames(bytes, source, key);
  } finally {
    // Releases the file when a consumer stops early or the archive is rejected.
    await bytes.close();
  }
}

async function* readFrames(
  bytes: ByteReader,
  source: string,
  key: BackupSigner | null,
): AsyncGenerator<ArchiveEvent> {
  const archiveHash = createHash("sha256");
  const magic = await bytes.read(MAGIC.byteLength);
  if (!magic || !equalBytes(magic, MAGIC)) {
    throw invalid(source, "it is not a Sluice backup (the magic bytes do not match)");
  }
  archiveHash.update(magic);

  let header: ArchiveHeader | null = null;
  let table: { def: ArchiveTable; rows: number; bytes: number; hash: Hash } | null = null;
  const done: TableSummary[] = [];

  for (;;) {
    const head = await bytes.read(5);
    if (!head) throw invalid(source, "it ends before its trailer (the file is truncated)");
    const type = String.fromCharCode(head[0]!);
    const length = new DataView(head.buffer, head.byteOffset, 5).getUint32(1);
    if (length > MAX_FRAME_BYTES) {
      throw invalid(source, `a '${type}' frame claims ${length} bytes (damaged framing)`);
    }
    const payload = length === 0 ? new Uint8Array(0) : await bytes.read(length);
    if (!payload) throw invalid(source, "it ends inside a frame (the file is truncated)");
    if (type !== "Z") {
      archiveHash.update(head);
      archiveHash.update(payload);
    }

    if (!header && type !== "H") throw invalid(source, `it starts with a '${type}' frame`);
    switch (type) {
      case "H": {
        if (header) throw invalid(source, "it has a second header");
        header = parseHeader(payload, source);
        if (key) checkSignedWith(header, key, source);
        yield { type: "header", header };
        break;
      }
      case "T": {
        if (table) throw invalid(source, `table '${table.def.name}' has no end frame`);
        const { name } = parseJson<{ name: string }>(payload, source, "table frame");
        const expected = header!.tables[done.length];
        if (!expected || expected.name !== name) {
          throw invalid(
            source,
            `table '${name}' is out of place (the header lists '${expected?.name ?? "nothing"}')`,
          );
        }
        table = { def: expected, rows: 0, bytes: 0, hash: createHash("sha256") };
        yield { type: "table", table: expected };
        break;
      }
      case "D": {
        if (!table) throw invalid(source, "data outside a table section");
        const rows = countNewlines(payload);
        table.rows += rows;
        table.bytes += payload.byteLength;
        table.hash.update(payload);
        yield { type: "data", table: table.def.name, chunk: payload, rows };
        break;
      }
      case "E": {
        if (!table) throw invalid(source, "a table end without a table");
        const s = parseJson<TableSummary>(payload, source, "table end frame");
        const got = { rows: table.rows, bytes: table.bytes, sha256: table.hash.digest("hex") };
        if (s.name !== table.def.name) {
          throw invalid(source, `the end of '${table.def.name}' names '${s.name}'`);
        }
        if (s.sha256 !== got.sha256 || s.rows !== got.rows || s.bytes !== got.bytes) {
          throw invalid(
            source,
            `table '${s.name}' does not match its checksum (recorded ${s.rows} rows, ` +
              `${s.bytes} bytes, sha-256 '${s.sha256.slice(0, 12)}…'; read ${got.rows} rows, ` +
              `${got.bytes} bytes, sha-256 '${got.sha256.slice(0, 12)}…')`,
          );
        }
        done.push(s);
        table = null;
        yield { type: "tableEnd", summary: s };
        break;
      }
      case "Z": {
        if (table) throw invalid(source, `table '${table.def.name}' has no end frame`);
        const t = parseJson<ArchiveTrailer>(payload, source, "trailer");
        const sha = archiveHash.digest("hex");
        if (t.archiveSha256 !== sha) {
          throw invalid(
            source,
            `its checksum does not match (recorded '${
              String(t.archiveSha256).slice(0, 12)
            }…', computed '${sha.slice(0, 12)}…')`,
          );
        }
        if (done.length !== header!.tables.length) {
          throw invalid(
            source,
            `it holds ${done.length} of the ${header!.tables.length} tables its header lists`,
          );
        }
        if (JSON.stringify(t.tables) !== JSON.stringify(done)) {
          throw invalid(source, "its trailer's table summaries differ from the table sections");
        }
        if (await bytes.read(1)) throw invalid(source, "it has data after its trailer");
        // Last: by now `archiveSha256` is known to cover every earlier byte.
        if (key) checkSignature(header!, t, key, source);
        yield { type: "trailer", trailer: t };
        return;
      }
      default:
        throw invalid(source, `it has an unknown frame type '${type}' (damaged framing)`);
    }
  }
}

/** Reads a whole archive, verifying it (and its signature, given a key); returns header and trailer. */
export async function verifyArchive(
  input: ReadableStream<Uint8Array>,
  source = "archive",
  { onProgress, ...opts }: ReadOptions & { onProgress?: (e: ArchiveEvent) => void } = {},
): Promise<{ header: ArchiveHeader; trailer: ArchiveTrailer }> {
  let header: ArchiveHeader | null = null;
  for await (const e of readArchive(input, source, opts)) {
    onProgress?.(e);
    if (e.type === "header") header = e.header;
    if (e.type === "trailer") return { header: header!, trailer: e.trailer };
  }
  throw invalid(source, "it ends before its trailer (the file is truncated)");
}

function parseHeader(payload: Uint8Array, source: string): ArchiveHeader {
  const h = parseJson<ArchiveHeader>(payload, source, "header");
  if (h.format !== ARCHIVE_FORMAT) throw invalid(source, `its format is '${h.format}'`);
  if (h.formatVersion !== ARCHIVE_FORMAT_VERSION) {
    throw new SluiceError(
      "ARCHIVE_TOO_NEW",
      `'${source}' uses backup format ${h.formatVersion}; this Sluice reads format ` +
        `${ARCHIVE_FORMAT_VERSION}: use the Sluice version that wrote it ('${h.sluiceVersion}')`,
      { formatVersion: h.formatVersion },
    );
  }
  if (!Array.isArray(h.tables) || !Number.isInteger(h.schemaVersion)) {
    throw invalid(source, "its header is incomplete");
  }
  h.signedWith ??= null;
  if (h.signedWith !== null && typeof h.signedWith.keyId !== "string") {
    throw invalid(source, "its header's signing key is malformed");
  }
  return h;
}

/** With a key, an archive must say up front that it is signed with that key. */
function checkSignedWith(h: ArchiveHeader, key: BackupSigner, source: string): void {
  const declared = h.signedWith;
  if (!declared) {
    throw new SluiceError(
      "BACKUP_UNSIGNED",
      `Backup '${source}' is unsigned, and a backup key is configured (SLUICE_BACKUP_KEY): ` +
        "refusing it. It was written without a key, or its signature was removed; only if " +
        "you trust where it has been, unset SLUICE_BACKUP_KEY to accept it on its checksums",
      { source, keyId: key.keyId },
    );
  }
  if (declared.alg !== SIGNATURE_ALG) {
    throw badSignature(source, `it names an unknown signature algorithm '${declared.alg}'`);
  }
  if (declared.keyId !== key.keyId) {
    throw new SluiceError(
      "BACKUP_KEY_MISMATCH",
      `Backup '${source}' was signed with backup key '${declared.keyId}', but the configured ` +
        `SLUICE_BACKUP_KEY is key '${key.keyId}': use the key it was made with (after a key ` +
        "rotation, older archives need the old key)",
      { source, archiveKeyId: declared.keyId, keyId: key.keyId },
    );
  }
}

/** The trailer's HMAC, by the key the header declared (`checkSignedWith` passed). */
function checkSignature(
  h: ArchiveHeader,
  t: ArchiveTrailer,
  key: BackupSigner,
  source: string,
): void {
  const { signature, ...unsigned } = t;
  if (!signature || signature.alg !== SIGNATURE_ALG || signature.keyId !== h.signedWith?.keyId) {
    throw badSignature(source, "its signature is missing or does not match its header");
  }
  if (!macMatches(key, signedMessage(unsigned), signature.mac)) {
    throw badSignature(
      source,
      `its signature does not match its contents (key '${key.keyId}'): it was changed after ` +
        "it was written",
    );
  }
}

function badSignature(source: string, why: string): SluiceError {
  return new SluiceError("BACKUP_SIGNATURE_INVALID", `Backup '${source}' is refused: ${why}`, {
    source,
  });
}

function parseJson<T>(payload: Uint8Array, source: string, what: string): T {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload)) as T;
  } catch {
    throw invalid(source, `its ${what} is not valid JSON (damaged archive)`);
  }
}

export function invalid(source: string, why: string): SluiceError {
  return new SluiceError("ARCHIVE_INVALID", `Backup '${source}' is not usable: ${why}`, {
    source,
  });
}

/** Hands out exact byte counts from a stream of arbitrary chunks. */
class ByteReader {
  readonly #it: AsyncIterator<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #available = 0;

  constructor(stream: ReadableStream<Uint8Array>, readonly source: string) {
    this.#it = stream[Symbol.asyncIterator]();
  }

  async close(): Promise<void> {
    await this.#it.return?.().catch(() => {});
  }

  /** `n` bytes, or null at the end of the stream; throws when the stream ends part-way. */
  async read(n: number): Promise<Uint8Array | null> {
    while (this.#available < n) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await this.#it.next();
      } catch (e) {
        throw invalid(
          this.source,
          `its compressed data is damaged or truncated (${(e as Error).message})`,
        );
      }
      if (next.done) {
        if (this.#available === 0) return null;
        throw invalid(this.source, "it ends inside a frame (the file is truncated)");
      }
      this.#chunks.push(next.value);
      this.#available += next.value.byteLength;
    }
    const first = this.#chunks[0]!;
    let out: Uint8Array;
    if (first.byteLength >= n) {
      out = first.subarray(0, n);
      if (first.byteLength === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      out = new Uint8Array(n);
      let at = 0;
      while (at < n) {
        const c = this.#chunks[0]!;
        const take = Math.min(c.byteLength, n - at);
        out.set(c.subarray(0, take), at);
        at += take;
        if (take === c.byteLength) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(take);
      }
    }
    this.#available -= n;
    return out;
  }
}

/** COPY text ends every row with a newline and escapes newlines inside values. */
function countNewlines(chunk: Uint8Array): number {
  let n = 0;
  for (let i = chunk.indexOf(NEWLINE); i !== -1; i = chunk.indexOf(NEWLINE, i + 1)) n++;
  return n;
}

function json(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
}
