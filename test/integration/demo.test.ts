/**
 * `switchboard demo` as `npm start` runs it, on a machine where nothing listens at NATS_URL: it
 * must start its own nats-server, run the whole scenario (balanced calls, a SIGKILLed instance,
 * the alert and its mail), end by itself or on Ctrl-C, and leave no process and no data behind.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../helpers/nats-server.js";
import { isAlive, killAllCli, runCli, startCli } from "../helpers/cli.js";
import { sleep, waitFor } from "../helpers/wait.js";

interface Summary {
  event: "summary";
  calls: number;
  failed: number;
  retries: number;
  killed: { id: string; pid: number } | null;
  alerts: Array<{ status: string; rule: string; instance?: string }>;
  mails: number;
  mailFiles: string[];
  mailSubjects: string[];
  prefix: string;
  nats: { local: boolean; pid: number | null; storeDir: string | null };
  instancePids: number[];
  reason: string;
}

/** Processes whose command line mentions `needle` (e.g. the demo's private prefix). */
function processesMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(needle)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function events(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("switchboard demo", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await killAllCli();
    dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  });

  it("runs the whole scenario against its own nats-server, with no failed call and one mail, and leaves nothing behind", async () => {
    const port = await freePort();
    const mailDir = mkdtempSync(join(tmpdir(), "sb-demo-mail-"));
    dirs.push(mailDir);
    const r = await runCli(["demo", "--duration", "20s", "--json", "--mail-dir", mailDir], {
      env: { NATS_URL: `nats://127.0.0.1:${port}` },
      timeoutMs: 55_000,
    });
    expect(r.code, r.stderr).toBe(0);
    const all = events(r.stdout);
    const summary = all.find((e) => e.event === "summary") as unknown as Summary;
    expect(summary, r.stdout).toBeDefined();

    // Its own server, because nothing answered at NATS_URL.
    expect(summary.nats.local).toBe(true);
    expect(all.some((e) => e.kind === "nats" && e.local === true)).toBe(true);
    expect(summary.prefix).toMatch(/^demo_[0-9a-f]{8}$/);

    // The operator console ran for the demo, and its URL was printed.
    expect(all.find((e) => e.kind === "console")?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

    // Balanced calls, one instance SIGKILLed, and not one failed call.
    expect(summary.calls).toBeGreaterThan(500);
    expect(summary.failed).toBe(0);
    expect(summary.killed).not.toBeNull();
    expect(all.some((e) => e.kind === "kill")).toBe(true);
    expect(all.filter((e) => e.kind === "call-failed")).toEqual([]);

    // The alert for the killed instance, and exactly one mail about it, saved as a file.
    expect(summary.alerts).toEqual([expect.objectContaining({ status: "firing", rule: "InstanceDown", instance: summary.killed!.id })]);
    expect(summary.mails).toBe(1);
    const files = readdirSync(mailDir).filter((f) => f.endsWith(".eml"));
    expect(files).toHaveLength(1);
    const eml = readFileSync(join(mailDir, files[0]!), "utf8");
    expect(eml).toMatch(/^Subject: .*InstanceDown/m);
    expect(eml).toContain(summary.killed!.id);
    expect(summary.mailSubjects[0]).toContain("InstanceDown");

    // Nothing left running: the nats-server, the instances, anything mentioning the demo's prefix.
    expect(summary.nats.pid).toBeGreaterThan(0);
    await waitFor(() => !isAlive(summary.nats.pid!), { timeoutMs: 5000, what: "nats-server gone" });
    for (const pid of summary.instancePids) expect(isAlive(pid), `instance pid ${pid}`).toBe(false);
    expect(processesMentioning(summary.prefix)).toEqual([]);
    expect(existsSync(summary.nats.storeDir!)).toBe(false);
  }, 60_000);

  it("stops everything cleanly on Ctrl-C (SIGINT)", async () => {
    const port = await freePort();
    const mailDir = mkdtempSync(join(tmpdir(), "sb-demo-mail-"));
    dirs.push(mailDir);
    const demo = startCli(["demo", "--json", "--mail-dir", mailDir], { env: { NATS_URL: `nats://127.0.0.1:${port}` } });
    await demo.waitFor(/"text":"driving /, { timeoutMs: 30_000 });
    await demo.waitFor(/"event":"status"/, { timeoutMs: 10_000 });
    await sleep(500);
    expect(await demo.stop("SIGINT", 20_000)).toBe(0);
    const summary = events(demo.stdout()).find((e) => e.event === "summary") as unknown as Summary;
    expect(summary.reason).toBe("SIGINT");
    expect(summary.failed).toBe(0);
    expect(summary.calls).toBeGreaterThan(0);
    await waitFor(() => !isAlive(summary.nats.pid!), { timeoutMs: 5000, what: "nats-server gone" });
    for (const pid of summary.instancePids) expect(isAlive(pid)).toBe(false);
    expect(processesMentioning(summary.prefix)).toEqual([]);
  }, 60_000);

  it("says how to get nats-server when none answers and none is installed", async () => {
    const port = await freePort();
    const r = await runCli(["demo", "--duration", "10s"], {
      env: { NATS_URL: `nats://127.0.0.1:${port}`, NATS_SERVER_BIN: "/nonexistent/nats-server" },
    });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines[lines.length - 1]).toMatch(/^switchboard: nothing answers at nats:\/\/127\.0\.0\.1:\d+ and no nats-server binary was found \(NATS_SERVER_BIN=\/nonexistent\/nats-server is not an executable\): install nats-server \(Debian\/Ubuntu: `apt-get install nats-server`/);
  });
});
