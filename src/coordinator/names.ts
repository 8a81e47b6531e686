/** Names the coordinator derives: KV bucket names from the subject prefix, ids of registrations. */
import { v5 as uuidv5 } from "uuid";

/** Namespace of registration ids (UUID v5): fixed, so every coordinator derives the same id. */
export const REGISTRATION_NAMESPACE = "7d0a4b3e-6f1c-5b8e-9a2d-3c4e5f607182";

/** KV bucket names allow letters, digits, `-` and `_`: the prefix's dots become `_`. */
function bucketBase(prefix: string): string {
  return prefix.replace(/\./g, "_");
}

/** Bucket holding the registry (one key per instance, plus the revision). */
export function registryBucketName(prefix: string): string {
  return `${bucketBase(prefix)}_registry`;
}

export { leaseBucketName } from "../protocol/lease.js";

/**
 * Id of an instance registered without an agent: UUID v5 of service name and address, so a
 * re-registration and every coordinator agree on it.
 */
export function registrationId(serviceName: string, serviceAddress: string): string {
  return uuidv5(`${serviceName}\n${serviceAddress}`, REGISTRATION_NAMESPACE);
}
