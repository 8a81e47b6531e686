/**
 * No Docker engine runs here, so the compose file is checked by reading it: the services, the
 * NATS cluster (routes, JetStream, store volumes), the environment each component needs, health
 * checks and restart policies, that every `switchboard` command line in it parses with the real
 * CLI, that the mounted rules file is valid, and that the Dockerfile builds the CLI.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { Command } from "commander";
import { buildProgram } from "../../src/cli/index.js";
import { validatorFor } from "../../src/protocol/index.js";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { authorizationConfig, inboxPrefixFor } from "../chaos/permissions.js";
import { NATS_SERVER_BIN } from "../helpers/nats-server.js";

const root = join(import.meta.dirname, "..", "..");
const compose = parse(readFileSync(join(root, "docker-compose.yml"), "utf8"), { merge: true }) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test?: string[]; disable?: boolean };
  restart?: string;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  profiles?: string[];
}

const services = compose.services;
const natsNodes = ["nats-1", "nats-2", "nats-3"];
const switchboardServices = Object.entries(services).filter(([, s]) => s.build !== undefined);
const longRunning = switchboardServices.filter(([, s]) => !s.profiles);

function flag(cmd: string[], name: string): string | undefined {
  const hit = cmd.find((a) => a.startsWith(`--${name}=`));
  return hit?.slice(name.length + 3);
}

describe("docker-compose.yml", () => {
  it("has the cluster, two coordinators, a collector, a notifier, a mail catcher, the gateway, the console and demo services", () => {
    for (const name of [...natsNodes, "coordinator-1", "coordinator-2", "collector", "notifier", "mailpit", "gateway", "console", "echo"]) {
      expect(services, name).toHaveProperty(name);
    }
    expect(services["coordinator-1"]!.command![0]).toBe("coordinator");
    expect(services["coordinator-2"]!.command![0]).toBe("coordinator");
    expect(services.collector!.command![0]).toBe("collector");
    expect(services.notifier!.command![0]).toBe("notifier");
    expect(services.gateway!.command![0]).toBe("gateway");
    expect(services.console!.command![0]).toBe("console");
    expect(services.echo!.command![0]).toBe("demo-service");
    expect(services.echo!.deploy?.replicas).toBeGreaterThanOrEqual(3);
    expect(services.mailpit!.image).toMatch(/^axllent\/mailpit:/);
  });

  it("runs a 3-node NATS cluster with JetStream on its own volumes, each node routed to the other two", () => {
    const clusterNames = new Set<string>();
    for (const node of natsNodes) {
      const s = services[node]!;
      expect(s.image).toMatch(/^nats:/);
      const cmd = s.command!;
      expect(cmd).toContain("--jetstream");
      expect(flag(cmd, "name")).toBe(node);
      clusterNames.add(flag(cmd, "cluster_name")!);
      expect(flag(cmd, "cluster")).toMatch(/^nats:\/\/0\.0\.0\.0:6222$/);
      const routes = flag(cmd, "routes")!.split(",").map((r) => new URL(r));
      expect(routes.every((r) => r.protocol === "nats-route:" && r.port === "6222")).toBe(true);
      expect(routes.map((r) => r.hostname).sort()).toEqual(natsNodes.filter((n) => n !== node));
      const storeDir = flag(cmd, "store_dir")!;
      const volume = s.volumes!.find((v) => v.endsWith(`:${storeDir}`))!;
      expect(volume, `${node} store volume`).toBeDefined();
      expect(compose.volumes).toHaveProperty(volume.split(":")[0]!);
    }
    expect(clusterNames.size).toBe(1);
    expect([...clusterNames][0]).toBeTruthy();
  });

  it("gives every component NATS_URL listing all three nodes and SB_PREFIX", () => {
    expect(switchboardServices.length).toBeGreaterThanOrEqual(7);
    for (const [name, s] of switchboardServices) {
      const env = s.environment ?? {};
      const urls = (env.NATS_URL ?? "").split(",").map((u) => new URL(u));
      expect(urls.map((u) => u.hostname).sort(), name).toEqual(natsNodes);
      expect(urls.every((u) => u.protocol === "nats:" && u.port === "4222"), name).toBe(true);
      expect(env.SB_PREFIX, name).toMatch(/^[A-Za-z0-9_-]+$/);
    }
  });

  it("points the notifier at the mail catcher over SMTP", () => {
    const env = services.notifier!.environment!;
    expect(env.SMTP_HOST).toBe("mailpit");
    expect(env.SMTP_PORT).toBe("1025");
    expect(env.SMTP_FROM).toMatch(/@/);
    expect(env.SMTP_TO).toMatch(/@/);
    expect(services.notifier!.depends_on).toHaveProperty("mailpit");
  });

  it("mounts a valid alert rules file into the collector and exposes /metrics", () => {
    const cmd = services.collector!.command!;
    const rulesPath = cmd[cmd.indexOf("--rules") + 1]!;
    const mount = services.collector!.volumes!.find((v) => v.split(":")[1] === rulesPath)!;
    expect(mount).toBeDefined();
    const hostFile = join(root, mount.split(":")[0]!);
    expect(existsSync(hostFile)).toBe(true);
    const rules = parse(readFileSync(hostFile, "utf8"));
    const validate = validatorFor("alert-rules");
    expect(validate(rules), JSON.stringify(validate.errors)).toBe(true);
    const port = cmd[cmd.indexOf("--metrics-port") + 1]!;
    expect(services.collector!.healthcheck!.test!.join(" ")).toContain(`:${port}/metrics`);
  });

  it("has a health check and a restart policy on every long-running service, and waits for healthy NATS", () => {
    for (const [name, s] of Object.entries(services)) {
      if (s.profiles) continue;
      expect(s.healthcheck?.test, `${name} healthcheck`).toBeDefined();
      expect(s.healthcheck?.disable, name).not.toBe(true);
      expect(["always", "unless-stopped", "on-failure"], `${name} restart`).toContain(s.restart);
    }
    for (const [name, s] of longRunning) {
      for (const node of natsNodes) expect(s.depends_on?.[node]?.condition, `${name} → ${node}`).toBe("service_healthy");
    }
  });

  it("probes each component on the port its command line opens", () => {
    for (const [name, s] of longRunning) {
      const cmd = s.command!;
      const probe = s.healthcheck!.test!.join(" ");
      const port = cmd.includes("--health-port") ? cmd[cmd.indexOf("--health-port") + 1] : cmd.includes("--metrics-port") ? cmd[cmd.indexOf("--metrics-port") + 1] : cmd[cmd.indexOf("--port") + 1];
      expect(port, `${name} opens a probe port`).toMatch(/^\d+$/);
      expect(probe, name).toContain(`127.0.0.1:${port}/`);
    }
  });

  it("only uses commands and options the switchboard CLI has", () => {
    const program = buildProgram();
    for (const [name, s] of switchboardServices) {
      const [sub, ...args] = s.command!;
      if (sub!.startsWith("-")) continue; // e.g. --help
      const cmd = program.commands.find((c: Command) => c.name() === sub);
      expect(cmd, `${name}: switchboard ${sub}`).toBeDefined();
      const known = new Set(cmd!.options.flatMap((o) => [o.long, o.short].filter(Boolean) as string[]));
      for (const a of args.filter((x) => x.startsWith("-"))) expect(known.has(a.split("=")[0]!), `${name}: ${sub} ${a}`).toBe(true);
    }
  });
});

describe("docker-compose.yml: NATS users and least-privilege permissions", () => {
  const authFile = readFileSync(join(root, "deploy", "nats-auth.conf"), "utf8");
  const normalize = (text: string) => text.replace(/^#.*$/gm, "").replace(/\s+/g, " ").trim();

  it("deploy/nats-auth.conf is the tested permission set for prefix sb and the echo service, and nats-server accepts it", () => {
    expect(normalize(authFile)).toBe(normalize(authorizationConfig("sb", ["echo"], [])));
    const dir = mkdtempSync(join(tmpdir(), "sb-compose-auth-"));
    try {
      const file = join(dir, "nats.conf");
      writeFileSync(file, `listen: "127.0.0.1:-1"\n${authFile}\n`);
      const r = spawnSync(NATS_SERVER_BIN, ["-t", "-c", file], { encoding: "utf8" });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("every NATS node loads it", () => {
    for (const node of natsNodes) {
      const s = services[node]!;
      const path = flag(s.command!, "config")!;
      expect(s.volumes, node).toContain(`./deploy/nats-auth.conf:${path}:ro`);
    }
  });

  it("every component connects as its own user of that file, with its password and private inbox prefix", () => {
    const users = new Map([...authFile.matchAll(/\{ user: "([^"]+)", password: "([^"]+)"/g)].map((m) => [m[1]!, m[2]!]));
    const roleOf: Record<string, string> = { "coordinator-1": "coordinator", "coordinator-2": "coordinator", collector: "collector", notifier: "notifier", gateway: "gateway", echo: "echo", cli: "admin", console: "admin" };
    for (const [name, s] of switchboardServices) {
      const env = s.environment ?? {};
      expect(env.NATS_USER, name).toBe(roleOf[name]);
      expect(users.get(env.NATS_USER!), name).toBe(env.NATS_PASSWORD);
      if (env.NATS_USER !== "admin") expect(env.NATS_INBOX_PREFIX, name).toBe(inboxPrefixFor(env.NATS_USER!));
    }
  });
});

describe("Dockerfile", () => {
  const text = readFileSync(join(root, "Dockerfile"), "utf8");
  it("builds the CLI with npm ci + npm run build and runs bin/switchboard.js", () => {
    expect(text).toMatch(/^FROM node:20/m);
    expect(text).toMatch(/RUN npm ci/);
    expect(text).toMatch(/npm run build/);
    expect(text).toMatch(/COPY --from=build \/app\/dist/);
    // The coordinator's young-generation flag (src/cli/nodeFlags.ts), so no relaunch is needed in the image.
    expect(text).toMatch(/ENTRYPOINT \["node", "--max-semi-space-size=4", "\/app\/bin\/switchboard\.js"\]/);
    expect(text).toMatch(/^USER node/m);
  });
  it("copies only files that exist in the repository", () => {
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1]!.split(/\s+/)) expect(existsSync(join(root, src)), src).toBe(true);
    }
  });
});
