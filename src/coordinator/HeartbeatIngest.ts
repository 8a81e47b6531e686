/**
 * Heartbeat ingestion, the coordinator's hot path: from a NATS message to the registry. Heartbeats in
 * the agent's own layout are read straight from the bytes (see HeartbeatParser); anything else goes
 * through JSON.parse and the hand-written schema check. The body must name the instance of its subject,
 * compared byte by byte when nats.js exposes the subject bytes.
 */
import type { Msg } from "@nats-io/transport-node";
import { decodeMessage, type InvalidInputLog } from "../protocol/index.js";
import { rawSubject } from "../protocol/natsInternals.js";
import { isHeartbeat } from "./heartbeatCheck.js";
import { heartbeatFields, parseCanonicalHeartbeat, type HeartbeatFields } from "./HeartbeatParser.js";
import type { RegistryStateMachine } from "./RegistryStateMachine.js";
import type { RegistryChange } from "./types.js";

const decoder = new TextDecoder();

/** What {@link HeartbeatIngest} needs from the coordinator. */
export interface HeartbeatIngestOptions {
  /** Subject prefix of the installation. */
  prefix: string;
  /** Largest accepted body, bytes. */
  maxBytes: number;
  invalid: InvalidInputLog;
  registry: RegistryStateMachine;
  now: () => number;
  /** A heartbeat of an instance the registry does not know. */
  onUnknown: (service: string, id: string) => void;
  /** A heartbeat changed the registry (revival, status). */
  onChange: (c: RegistryChange) => void;
}

/** Reads heartbeats into the registry. */
export class HeartbeatIngest {
  private readonly prefixLength: number;
  private readonly maxBytes: number;
  private readonly invalid: InvalidInputLog;
  private readonly registry: RegistryStateMachine;
  private readonly now: () => number;
  private readonly onUnknown: HeartbeatIngestOptions["onUnknown"];
  private readonly onChange: HeartbeatIngestOptions["onChange"];
  /** Scratch fields of the heartbeat being handled (one object for all of them). */
  private readonly fields = heartbeatFields();

  constructor(opts: HeartbeatIngestOptions) {
    this.prefixLength = `${opts.prefix}.heartbeat.`.length;
    this.maxBytes = opts.maxBytes;
    this.invalid = opts.invalid;
    this.registry = opts.registry;
    this.now = opts.now;
    this.onUnknown = opts.onUnknown;
    this.onChange = opts.onChange;
  }

  /** Handles one message of `<prefix>.heartbeat.<service>.<id>`. */
  handle(msg: Msg): void {
    const data = msg.data;
    if (data.length > this.maxBytes) {
      this.invalid.record("heartbeat", `heartbeat message of ${data.length} bytes exceeds the ${this.maxBytes}-byte limit`, msg.subject);
      return;
    }
    const f = this.fields;
    let named: boolean;
    if (parseCanonicalHeartbeat(data, f)) {
      named = this.subjectNamesBytes(msg, data, f);
    } else {
      let value: unknown;
      try {
        value = JSON.parse(decoder.decode(data));
      } catch {
        this.invalid.record("heartbeat", "heartbeat message is not valid JSON", msg.subject);
        return;
      }
      if (!isHeartbeat(value)) {
        const d = decodeMessage("heartbeat", data, this.maxBytes);
        this.invalid.record("heartbeat", d.ok ? "heartbeat message is invalid" : d.error, msg.subject);
        return;
      }
      f.service = value.service;
      f.id = value.id;
      f.seq = value.seq;
      f.sentAt = value.sentAt;
      f.inFlight = value.inFlight;
      f.status = value.status;
      named = this.subjectNamesString(msg.subject, f.service, f.id);
    }
    if (!named) {
      this.invalid.record("heartbeat", `heartbeat body names ${f.service}/${f.id}, not the instance of its subject`, msg.subject);
      return;
    }
    const r = this.registry.heartbeat(f.service, f.id, f.seq, f.inFlight, f.status, this.now());
    if (r === "ok" || r === "stale") return;
    if (r === "unknown") this.onUnknown(f.service, f.id);
    else this.onChange(r);
  }

  /** `<prefix>.heartbeat.<service>.<id>` against the body's names, as strings (no split, no allocation). */
  private subjectNamesString(subject: string, service: string, id: string): boolean {
    const p = this.prefixLength;
    return (
      subject.length === p + service.length + 1 + id.length &&
      subject.startsWith(service, p) &&
      subject.charCodeAt(p + service.length) === 46 /* . */ &&
      subject.endsWith(id)
    );
  }

  /** The same comparison on bytes: the subject is never decoded to a string. */
  private subjectNamesBytes(msg: Msg, data: Uint8Array, f: HeartbeatFields): boolean {
    const raw = rawSubject(msg);
    if (raw === undefined) return this.subjectNamesString(msg.subject, f.service, f.id);
    const p = this.prefixLength;
    const sLen = f.serviceEnd - f.serviceStart;
    const iLen = f.idEnd - f.idStart;
    if (raw.length !== p + sLen + 1 + iLen || raw[p + sLen] !== 46) return false;
    for (let k = 0; k < sLen; k++) if (raw[p + k] !== data[f.serviceStart + k]) return false;
    const q = p + sLen + 1;
    for (let k = 0; k < iLen; k++) if (raw[q + k] !== data[f.idStart + k]) return false;
    return true;
  }
}
