/**
 * What signed registry state costs (issue 10): per registry event on the leader (encode, vs encode +
 * sign), per event on a client (decode and validate, vs + verify), and per snapshot of 10 000 instances
 * (encode into max_payload parts, vs + sign every part), each against its unsigned baseline in the same
 * run. CPU only: signing adds no round trip. `npm run bench -- --only signing`.
 */
import { createUser } from "@nats-io/nkeys";
import { RegistryStateMachine, encodeSnapshot } from "../src/coordinator/index.js";
import { StateSigner, StateVerifier, decodeMessage, encodeJson, type RegistryEvent } from "../src/protocol/index.js";
import { runIfMain } from "./common/runIfMain.js";

/**
 * Runs `fn` repeatedly for about `ms` of wall time and returns the process's CPU microseconds per call
 * (after a warm-up): CPU time, unlike wall time, is not inflated by other processes competing for the cores.
 */
function perCall(fn: () => void, ms: number): number {
  const warm = performance.now();
  while (performance.now() - warm < Math.min(200, ms / 4)) fn();
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 16; i++) fn();
    n += 16;
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

export async function run(opts: { quick?: boolean } = {}): Promise<void> {
  const ms = opts.quick ? 500 : 2000;
  const signer = new StateSigner(new TextDecoder().decode(createUser().getSeed()));
  const verifier = new StateVerifier([signer.publicKey]);
  const subject = "sb.registry.events";
  const now = Date.now();
  const record = { id: "3f1c9e5a-7d2b-4c8e-9a10-6b2f0d4e8c71", service: "orders", version: "2.4.1", endpoints: ["create", "get"], heartbeatMs: 1000, startedAt: now };
  const event: RegistryEvent = { v: 1, revision: 18, term: 57, type: "suspect", at: now, coordinator: "coord-5b1e", instance: { instance: record, state: "suspect", since: now, lastSeen: now, seq: 43, inFlight: 0, status: "ok" } };
  const body = encodeJson(event);
  const h = signer.sign(subject, body);

  const sm = new RegistryStateMachine();
  for (let i = 0; i < 10_000; i++) sm.announce({ ...record, id: `inst-${i}`, service: `svc-${i % 100}` }, now);
  const header = { revision: 1, coordinator: "c", leader: true, term: 1, leaderId: "c", at: now };
  const parts = encodeSnapshot(sm, {}, header, 1024 * 1024);

  const rows: Array<[string, number, number]> = [
    ["leader: encode one event", perCall(() => encodeJson(event), ms), perCall(() => signer.sign(subject, encodeJson(event)), ms)],
    ["client: decode + validate one event", perCall(() => decodeMessage("registry-event", body), ms), perCall(() => {
      decodeMessage("registry-event", body);
      verifier.verify(subject, body, h);
    }, ms)],
    [`coordinator: snapshot of 10 000 (${parts.length} parts)`, perCall(() => encodeSnapshot(sm, {}, header, 1024 * 1024), ms), perCall(() => {
      for (const p of encodeSnapshot(sm, {}, header, 1024 * 1024)) signer.sign("_INBOX.x", p);
    }, ms)],
  ];
  console.log(`\nSigned registry state (${body.length}-byte event; snapshot ${parts.reduce((n, p) => n + p.length, 0)} bytes), CPU µs per operation (baseline unsigned, same run):`);
  console.log("operation | unsigned | signed | added");
  for (const [name, a, b] of rows) console.log(`${name} | ${a.toFixed(1)} | ${b.toFixed(1)} | +${(b - a).toFixed(1)} (${(b / a).toFixed(2)}x)`);
}

runIfMain(import.meta.url, (argv) => run({ quick: argv.includes("--quick") }));
