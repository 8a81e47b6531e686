/** The bridge from NATS consumers to HTTP-registered services (`switchboard bridge`, and inside every gateway). */
export { HttpBridge, createHttpBridge, BRIDGE_QUEUE, type HttpBridgeOptions, type HttpBridgeStats } from "./HttpBridge.js";
export { bridgeReply, type BridgeReply } from "./httpReply.js";
