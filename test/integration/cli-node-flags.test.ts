/**
 * `switchboard coordinator` runs with the V8 flag that keeps a 10 000-instance coordinator under 100 MB RSS,
 * however it was started: without the flag the CLI runs the command again in a child node process with it,
 * forwards signals to it and exits with its code.
 */
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMAND_NODE_FLAGS, missingNodeFlags } from "../../src/cli/nodeFlags.js";
import { isAlive, killAllCli, startCli } from "../helpers/cli.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { uniquePrefix } from "../helpers/wait.js";

/** Pids of the processes whose parent is `pid`, with their command lines. */
function childrenOf(pid: number): Array<{ pid: number; argv: string[] }> {
  const out: Array<{ pid: number; argv: string[] }> = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push({ pid: Number(entry), argv: readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe("missingNodeFlags", () => {
  it("finds a flag by name in node's arguments or NODE_OPTIONS, whatever its value", () => {
    const flags = COMMAND_NODE_FLAGS.coordinator!;
    expect(flags).toEqual(["--max-semi-space-size=4"]);
    expect(missingNodeFlags(flags, [], undefined)).toEqual(["--max-semi-space-size=4"]);
    expect(missingNodeFlags(flags, ["--import", "tsx"], "--enable-source-maps")).toEqual(["--max-semi-space-size=4"]);
    expect(missingNodeFlags(flags, ["--max-semi-space-size=8"], undefined)).toEqual([]);
    expect(missingNodeFlags(flags, [], " --max-semi-space-size=2 --trace-warnings")).toEqual([]);
  });
});

describe("switchboard coordinator without the flag", () => {
  let server: NatsServer;
  const prefix = uniquePrefix();
  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
  });
  afterAll(async () => {
    await killAllCli();
    await server?.dispose();
  });

  it("runs the coordinator in a child node process with --max-semi-space-size=4, and stops it on SIGTERM with exit code 0", { timeout: 90_000 }, async () => {
    const cli = startCli(["coordinator", "--servers", server.url, "--prefix", prefix, "--id", "flags-test", "--no-jetstream"]);
    await cli.waitFor(/coordinator flags-test running/, { stream: "stderr", timeoutMs: 60_000 });
    const children = childrenOf(cli.child.pid!);
    expect(children).toHaveLength(1);
    const [child] = children;
    expect(child!.argv).toContain("--max-semi-space-size=4");
    expect(child!.argv).toContain("coordinator");
    expect(await cli.stop("SIGTERM")).toBe(0);
    expect(isAlive(child!.pid)).toBe(false);
  });

  it("does not relaunch when NODE_OPTIONS already sets the flag", { timeout: 90_000 }, async () => {
    const cli = startCli(["coordinator", "--servers", server.url, "--prefix", prefix, "--id", "flags-test-2", "--no-jetstream"], {
      env: { NODE_OPTIONS: "--max-semi-space-size=4" },
    });
    await cli.waitFor(/coordinator flags-test-2 running/, { stream: "stderr", timeoutMs: 60_000 });
    expect(childrenOf(cli.child.pid!)).toEqual([]);
    expect(await cli.stop("SIGTERM")).toBe(0);
  });
});
