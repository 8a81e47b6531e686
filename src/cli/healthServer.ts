/**
 * A tiny HTTP health endpoint for long-running commands (`--health-port`), so container
 * orchestrators can probe a coordinator, notifier or demo service: `GET /healthz` → 200 or 503.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** What the probe reports: healthy or not, plus details shown in the JSON body. */
export type HealthCheck = () => { ok: boolean; [detail: string]: unknown };

/** A running health endpoint. */
export interface HealthServer {
  readonly port: number;
  stop(): Promise<void>;
}

/** Serves `GET /healthz` (and `/health`) on `host:port` with the result of `check`. */
export async function startHealthServer(port: number, host: string, check: HealthCheck): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/healthz" && path !== "/health") {
      res.writeHead(404, { "Content-Type": "application/json" }).end('{"status":"error","message":"use GET /healthz"}');
      return;
    }
    let result: ReturnType<HealthCheck>;
    try {
      result = check();
    } catch (e) {
      result = { ok: false, error: (e as Error).message };
    }
    const { ok, ...details } = result;
    res.writeHead(ok ? 200 : 503, { "Content-Type": "application/json", "Cache-Control": "no-store" });
    res.end(JSON.stringify({ status: ok ? "ok" : "unavailable", ...details }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "EADDRINUSE" ? new Error(`health port ${port} is already in use: choose another with --health-port`) : err),
    );
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
