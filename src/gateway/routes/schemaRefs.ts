/** Route schemas as references to the documents in `schemas/` (validated by ajv, published in /openapi.json). */

/** `{ $ref: "<name>.json#" }`: a schema of `schemas/` by file name. */
export function ref(name: string): { $ref: string } {
  return { $ref: `${name}.json#` };
}

/** Response schemas of a route: its success body and the shared error body for 4xx/5xx. */
export function replies(success: string, status = 200): Record<string, { $ref: string }> {
  return { [status]: ref(success), "4xx": ref("gateway-error"), "5xx": ref("gateway-error") };
}
