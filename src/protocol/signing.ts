/**
 * Optional signed registry state. Coordinators holding an NKey seed (ed25519, `@nats-io/nkeys`) sign
 * every registry event and every snapshot part; clients configured with the public key(s) accept
 * nothing unsigned or signed by another key. This keeps the registry true even where server-side
 * subject permissions are not set up.
 *
 * What is signed: SHA-256 of `context`, a zero byte, and the message body, exactly as sent — `context`
 * is the subject for events and the reply subject (the requester's inbox) for snapshot parts, so a
 * signed message cannot be replayed on another subject or to another requester. The signature travels
 * in headers, so the JSON body is signed byte for byte with no canonical form to agree on:
 *   Sb-Signer: <the signer's public NKey>      Sb-Signature: <base64url of the ed25519 signature>
 * Replays on the same subject are caught by the leader/term/revision checks.
 *
 * Keys are NKeys (`@nats-io/nkeys` parses and checks seeds and public keys); the ed25519 operations run
 * in node:crypto (OpenSSL), about a thousand times faster than the pure-JS implementation nkeys signs
 * with — a leader signs every event, so that matters (see BENCHMARKS, "signed registry state"). The
 * signatures are the same bytes either way (ed25519 is deterministic; a unit test pins one).
 */
import { createHash, createPrivateKey, createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from "node:crypto";
import { headers, type MsgHdrs } from "@nats-io/transport-node";
import { fromPublic, fromSeed } from "@nats-io/nkeys";
import { Codec } from "@nats-io/nkeys/lib/codec.js";

/** Header with the signer's public NKey. */
export const SIGNER_HEADER = "Sb-Signer";
/** Header with the base64url ed25519 signature. */
export const SIGNATURE_HEADER = "Sb-Signature";

const encoder = new TextEncoder();
const ZERO = new Uint8Array([0]);
/** DER prefixes of an ed25519 private key (PKCS#8) and public key (SPKI) around the raw 32 bytes. */
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519 = Buffer.from("302a300506032b6570032100", "hex");

/** The 32 bytes that are signed: SHA-256(context ‖ 0x00 ‖ body). */
export function signedDigest(context: string, body: Uint8Array): Uint8Array {
  return createHash("sha256").update(encoder.encode(context)).update(ZERO).update(body).digest();
}

/** Signs registry state with a coordinator's NKey seed. */
export class StateSigner {
  private readonly key: KeyObject;
  /** The public NKey clients configure to verify. */
  readonly publicKey: string;

  /** @param seed an NKey seed (`S…`, e.g. from `nk -gen user` or `createUser().getSeed()`). */
  constructor(seed: string | Uint8Array) {
    try {
      const bytes = typeof seed === "string" ? encoder.encode(seed.trim()) : seed;
      this.publicKey = fromSeed(bytes).getPublicKey();
      this.key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, Codec.decodeSeed(bytes).buf]), format: "der", type: "pkcs8" });
    } catch (err) {
      throw new RangeError(`signing seed is not a valid NKey seed: ${(err as Error).message}`);
    }
  }

  /** Headers carrying the signature of `body` sent on (or in reply to) `context`. */
  sign(context: string, body: Uint8Array, h: MsgHdrs = headers()): MsgHdrs {
    h.set(SIGNER_HEADER, this.publicKey);
    h.set(SIGNATURE_HEADER, edSign(null, signedDigest(context, body), this.key).toString("base64url"));
    return h;
  }
}

/** Verifies registry state against a set of trusted public NKeys. */
export class StateVerifier {
  private readonly keys = new Map<string, KeyObject>();

  /** @param publicKeys trusted signers (`U…`, `N…`, …: any NKey public key). */
  constructor(publicKeys: readonly string[]) {
    if (publicKeys.length === 0) throw new RangeError("at least one trusted public key is needed to verify registry state");
    for (const k of publicKeys) {
      try {
        const pk = k.trim();
        fromPublic(pk); // checks the prefix and checksum
        const raw = Codec._decode(encoder.encode(pk)).subarray(1); // one prefix byte, then the 32-byte key
        if (raw.length !== 32) throw new Error(`${raw.length}-byte key`);
        this.keys.set(pk, createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: "der", type: "spki" }));
      } catch (err) {
        throw new RangeError(`not a public NKey: ${JSON.stringify(k)} (${(err as Error).message})`);
      }
    }
  }

  /** Null when `body` on `context` carries a valid signature of a trusted key; otherwise why not. */
  verify(context: string, body: Uint8Array, h: MsgHdrs | undefined): string | null {
    const signer = h?.get(SIGNER_HEADER) ?? "";
    const signature = h?.get(SIGNATURE_HEADER) ?? "";
    if (!signer || !signature) return "unsigned";
    const key = this.keys.get(signer);
    if (!key) return "signed by an untrusted key";
    if (!/^[A-Za-z0-9_-]{86}$/.test(signature)) return "malformed signature";
    try {
      return edVerify(null, signedDigest(context, body), key, Buffer.from(signature, "base64url")) ? null : "bad signature";
    } catch {
      return "bad signature";
    }
  }
}
