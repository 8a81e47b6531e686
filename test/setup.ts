// Test workers: components log nothing unless SB_LOG_LEVEL asks (library code never reads the environment).
import { setDefaultLogLevel } from "../src/protocol/logger.js";

setDefaultLogLevel(process.env.SB_LOG_LEVEL ?? "silent");
