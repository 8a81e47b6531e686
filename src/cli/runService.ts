/**
 * The common life of a long-running command (coordinator, collector, notifier, demo service):
 * start the component, announce it, optionally serve a health probe, wait for SIGINT/SIGTERM
 * (or the connection closing for good), then stop the component and close the connection.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { closeQuietly } from "./connect.js";
import { startHealthServer, type HealthServer } from "./healthServer.js";
import { shutdownTrigger } from "./lifecycle.js";
import { err as errColors, printJsonLine } from "./output.js";
import type { ResolvedSettings } from "./types.js";

/** What {@link runService} needs to know about a component. */
export interface ServiceRun {
  /** Component name for messages, e.g. `coordinator`. */
  name: string;
  settings: ResolvedSettings;
  nc: NatsConnection;
  /** Starts the component; a rejection ends the command with its message. */
  start(): Promise<void>;
  /** Stops the component (idempotent). */
  stop(): Promise<void>;
  /** One human line once started (printed on stderr). */
  describe(): string;
  /** Fields of the JSON `started` event (with --json, on stdout). */
  details(): Record<string, unknown>;
  /** Health probe port (`--health-port`), if any. */
  healthPort?: number;
  /** Address the health probe binds (`--health-host`, default 127.0.0.1). */
  healthHost?: string;
  /** Another reason to stop, besides SIGINT/SIGTERM (e.g. the parent process went away). */
  stopWhen?: Promise<string>;
  /** Extra health details/conditions beyond "connected to NATS". */
  health?: () => { ok: boolean; [k: string]: unknown };
}

/** Runs a component until a shutdown signal; resolves after a clean stop. */
export async function runService(run: ServiceRun): Promise<void> {
  const { settings, nc } = run;
  const shutdown = shutdownTrigger();
  let health: HealthServer | undefined;
  let started = false;
  let reconnecting = false;
  // Health probes report a lost server connection while nats.js reconnects in the background.
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnecting") reconnecting = true;
      else if (s.type === "reconnect") reconnecting = false;
    }
  })().catch(() => undefined);
  try {
    await run.start();
    started = true;
    if (run.healthPort !== undefined) {
      health = await startHealthServer(run.healthPort, run.healthHost ?? "127.0.0.1", () => {
        const connected = !nc.isClosed() && nc.info !== undefined && !reconnecting;
        const extra = run.health?.() ?? { ok: true };
        return { ...extra, ok: started && connected && extra.ok, component: run.name, nats: connected ? "connected" : "disconnected" };
      });
    }
    if (settings.json) printJsonLine({ event: "started", component: run.name, prefix: settings.prefix, server: nc.getServer(), ...run.details() });
    else process.stderr.write(`${run.describe()}; Ctrl-C to stop\n`);
    void nc.closed().then(() => shutdown.abort("NATS connection closed"));
    void run.stopWhen?.then((why) => shutdown.abort(why));
    const why = await shutdown.promise;
    if (settings.json) printJsonLine({ event: "stopping", component: run.name, reason: why });
    else process.stderr.write(errColors.dim(`stopping ${run.name} (${why})`) + "\n");
  } finally {
    await health?.stop();
    await run.stop();
    await closeQuietly(nc);
  }
}
