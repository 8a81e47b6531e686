import { describe, expect, it } from "vitest";
import { computeApiSurfaces, readSnapshot } from "../../scripts/api-surface.js";

// The public surface is a chosen list: adding, removing or changing the kind of an export of
// `switchboard` or `switchboard/internal` must come with a reviewed diff of api.txt / api-internal.txt
// (`npm run api:update` regenerates them).
describe("API surface", () => {
  const surfaces = computeApiSurfaces();

  it.each([...surfaces.keys()])("%s matches the exports (npm run api:update after a deliberate change)", (snapshot) => {
    expect(surfaces.get(snapshot)).toBe(readSnapshot(snapshot));
  });

  it("the public entry is a subset of the internal one and excludes internals", () => {
    const pub = surfaces.get("api.txt")!.trim().split("\n");
    const internal = new Set(surfaces.get("api-internal.txt")!.trim().split("\n"));
    for (const line of pub) expect(internal.has(line), line).toBe(true);
    const names = new Set(pub.map((l) => l.split(" ")[0]));
    for (const name of ["escapeHtml", "backoffDelay", "SCHEMA_DIR", "parseCanonicalHeartbeat", "encodeSnapshot", "decodeMessage"]) {
      expect(names.has(name), name).toBe(false);
    }
    for (const name of ["createAgent", "createCoordinator", "createClient", "createCollector", "createMailNotifier", "createGateway", "ServiceError", "TimeoutError", "Heartbeat"]) {
      expect(names.has(name), name).toBe(true);
    }
  });
});
