/** Builds the console page into `outDir` (default dist/web). */
export function buildWeb(outDir?: string): Promise<{ outDir: string; js: string; css: string }>;
