/** A minimal warn-only logger for interactive commands: one readable line on stderr, never JSON on stdout. */
import { err as colors, printable } from "./output.js";

/** Something with pino's `warn(obj, msg)` shape, as InvalidInputLog expects. */
export const stderrWarn = {
  warn(obj: unknown, msg?: string): void {
    const detail = obj && typeof obj === "object" && "error" in obj ? `: ${String((obj as { error: unknown }).error)}` : "";
    process.stderr.write(colors.yellow(`warning: ${printable(`${msg ?? ""}${detail}`)}`) + "\n");
  },
};
