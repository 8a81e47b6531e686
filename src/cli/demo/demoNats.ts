/**
 * The demo's first step: the NATS server at NATS_URL when one answers, or a private nats-server
 * started for the demo (and stopped with it), then the demo's own connection.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { CliError, describeConnectError } from "../CliError.js";
import { connectForCli } from "../connect.js";
import type { ResolvedSettings } from "../types.js";
import type { CleanupStack } from "./CleanupStack.js";
import { INSTALL_HINT, findNatsServer, probeNats, startLocalNats, type LocalNats } from "./LocalNatsServer.js";

/** How the demo reports a step: a line of text and, for `--json`, structured fields. */
export type DemoNote = (text: string, event?: Record<string, unknown>) => void;

/** The NATS server the demo uses. */
export interface DemoNats {
  /** Server URLs every demo component and process connects to. */
  readonly servers: string[];
  /** The private server, when the demo started one. */
  readonly local: LocalNats | undefined;
  /** The demo's settings, pointing at `servers`. */
  readonly settings: ResolvedSettings;
  /** The demo's own connection (closed by the caller). */
  readonly nc: NatsConnection;
}

/** Probes NATS_URL, starts a local nats-server if nothing answers there, and connects. */
export async function startDemoNats(settings: ResolvedSettings, prefix: string, note: DemoNote, cleanups: CleanupStack): Promise<DemoNats> {
  const probe = await probeNats(settings.nats);
  let servers = settings.nats.servers;
  if (probe.kind === "refused") throw describeConnectError(probe.error, servers);
  let local: LocalNats | undefined;
  if (probe.kind === "absent") {
    const bin = findNatsServer();
    if (!bin) {
      const hint = process.env.NATS_SERVER_BIN ? ` (NATS_SERVER_BIN=${process.env.NATS_SERVER_BIN} is not an executable)` : "";
      throw new CliError(`nothing answers at ${servers.join(", ")} and no nats-server binary was found${hint}: ${INSTALL_HINT}`);
    }
    note(`nothing answers at ${servers.join(", ")}: starting a local nats-server (${bin})`);
    const l = await startLocalNats(bin);
    local = l;
    cleanups.push(`local nats-server (pid ${l.pid})`, () => l.stop());
    servers = [l.url];
    note(`local nats-server with JetStream on ${l.url} (pid ${l.pid})`, { kind: "nats", url: l.url, pid: l.pid, storeDir: l.storeDir, local: true });
  } else {
    note(`using the NATS server at ${servers.join(", ")} with its own prefix ${prefix}`, { kind: "nats", url: servers.join(","), local: false });
  }
  const demoSettings: ResolvedSettings = local ? { ...settings, nats: { servers } } : settings;
  const nc = await connectForCli(demoSettings, "switchboard demo");
  return { servers, local, settings: demoSettings, nc };
}
