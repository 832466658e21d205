/**
 * Version and build stamp. `scripts/bundle.ts` replaces the two `@@SLUICE_…@@` markers in the
 * bundled text (`replaceAll`, so inlined copies are stamped too); an unstamped build reports
 * `dev`. Markers rather than a generated file keep `deno run main.ts` working with no build.
 */
export const VERSION = "0.1.0";

const STAMPED_COMMIT: string = "@@SLUICE_COMMIT@@";
const STAMPED_BUILT_AT: string = "@@SLUICE_BUILT_AT@@";

function stamp(value: string): string {
  return value.startsWith("@@") ? "dev" : value;
}

export const BUILD: { readonly commit: string; readonly builtAt: string } = {
  commit: stamp(STAMPED_COMMIT),
  builtAt: stamp(STAMPED_BUILT_AT),
};

export interface VersionInfo {
  version: string;
  commit: string;
  builtAt: string;
}

export function versionInfo(): VersionInfo {
  return { version: VERSION, commit: BUILD.commit, builtAt: BUILD.builtAt };
}
