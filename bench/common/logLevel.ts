/**
 * Preloaded into every benchmark worker (`--import`): the worker's component loggers take SB_LOG_LEVEL,
 * since library code never reads the environment itself.
 */
import { setDefaultLogLevel } from "../../src/protocol/logger.js";

setDefaultLogLevel(process.env.SB_LOG_LEVEL);
