/** The seed-compatible HTTP gateway (`switchboard gateway`) and the registry requests it is built on. */
export { createGateway } from "./Gateway.js";
export type { Gateway, GatewayOptions, GatewayCaller, GatewayCallOptions, GatewayTlsOptions } from "./types.js";
export { HttpError } from "./HttpError.js";
export { clientCaller, UnknownServiceError, type ClientCallerOptions } from "./clientCaller.js";
export { pickInstance, addressOf } from "./pickInstance.js";
export {
  requestSnapshot,
  requestRegister,
  RegistryUnavailableError,
  RegistryRequestError,
} from "./RegistryRequests.js";
