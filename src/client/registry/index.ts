/** Client-side registry discovery: a local cache of the registry, kept current by the leader's events. */
export { RegistryCache, createRegistryCache } from "./RegistryCache.js";
export { queryRegistry, type QueryRegistryOptions } from "./queryRegistry.js";
export { RegistryQueryError } from "./types.js";
export type { CachedState, RegistryCacheChange, RegistryCacheOptions, RegistryCacheStats } from "./types.js";
