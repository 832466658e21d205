/** What a token may do. Its own module so sessions and tokens share it without a circle. */
export const SCOPES = ["admin", "producer", "worker", "read"] as const;
export type Scope = typeof SCOPES[number];
