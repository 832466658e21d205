/**
 * `DATABASE_URL` in libpq's form, including a host list for high availability:
 * `postgres://u:p@db1:5432,db2:5432/sluice?target_session_attrs=read-write`.
 *
 * WHATWG `new URL()` refuses a host list (the port `5432,db2:5432` is not a number), so the
 * authority is split here and only a one-host rewrite goes through `new URL()` to validate the
 * rest (scheme, user, path, query). postgres.js takes the hosts as arrays, tries them in order
 * on every (re)connect and, with `target_session_attrs=read-write`, skips a server that is in
 * recovery or read-only; after a failover each pool connection finds the promoted standby by
 * itself.
 */
import { SluiceError } from "../errors.ts";

export interface PostgresHost {
  host: string;
  /** null: the default (5432, or the `port` query parameter). */
  port: number | null;
}

export interface PostgresUrl {
  scheme: "postgres" | "postgresql";
  username: string;
  password: string;
  hosts: PostgresHost[];
  /** The URL with only the first host, for parsers that take one (postgres.js, `new URL`). */
  singleHost: URL;
}

/** Parses a `postgres://` URL with one or more hosts; throws `CONFIG_INVALID` (never quoting it). */
export function parsePostgresUrl(text: string): PostgresUrl {
  const m = /^(postgres(?:ql)?):\/\/([^/?#]*)(.*)$/is.exec(text.trim());
  if (!m) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text.trim())?.[1];
    throw invalid(
      scheme
        ? `the URL scheme must be postgres:// or postgresql://, not '${scheme}://'`
        : "the value is not a URL (use postgres://user:password@host:5432/dbname)",
    );
  }
  const scheme = m[1]!.toLowerCase() as PostgresUrl["scheme"];
  const authority = m[2]!;
  const at = authority.lastIndexOf("@");
  const userinfo = at >= 0 ? authority.slice(0, at + 1) : "";
  const hostList = authority.slice(at + 1);
  const hosts = hostList === "" ? [] : hostList.split(",").map(parseHost);
  let singleHost: URL;
  try {
    const first = hostList === "" ? "" : hostList.split(",")[0]!;
    singleHost = new URL(`${scheme}://${userinfo}${first}${m[3]}`);
  } catch {
    throw invalid("the value is not a URL (use postgres://user:password@host:5432/dbname)");
  }
  return {
    scheme,
    username: decodeURIComponent(singleHost.username),
    password: decodeURIComponent(singleHost.password),
    hosts,
    singleHost,
  };
}

function parseHost(part: string): PostgresHost {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]*)(?::(\d{1,5}))?$/i.exec(part);
  const port = m?.[2] === undefined ? null : Number(m[2]);
  if (!m || m[1] === "" || (port !== null && (port < 1 || port > 65535))) {
    throw invalid(
      "a host in the URL's host list is not host[:port] (use postgres://user@db1:5432,db2:5432/dbname)",
    );
  }
  return { host: m[1]!.replace(/^\[(.*)\]$/, "$1"), port };
}

/** Scheme, user, hosts and database for logs and `config check`; never the password or query. */
export function describePostgresUrl(text: string): string {
  const u = parsePostgresUrl(text);
  const user = u.username ? `${u.username}${u.password ? ":<redacted>" : ""}@` : "";
  const hosts = u.hosts.map((h) =>
    `${h.host.includes(":") ? `[${h.host}]` : h.host}${h.port === null ? "" : `:${h.port}`}`
  ).join(",");
  const query = u.singleHost.search ? "?<redacted>" : "";
  return `${u.scheme}://${user}${hosts}${u.singleHost.pathname}${query}`;
}

function invalid(message: string): SluiceError {
  return new SluiceError("CONFIG_INVALID", `DATABASE_URL: ${message}`, { problem: message });
}
