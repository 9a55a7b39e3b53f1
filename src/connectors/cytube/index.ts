/** The CyTube connector's public surface; everything else in this folder is internal. */

export { DEFAULT_RECONNECT, type ReconnectPolicy } from "./client.js";
export { CytubeConnector, type CytubeConnectorOptions } from "./cytube-connector.js";
export { ANTIFLOOD_DEFAULT, BASE_FLOOD, type FloodParams } from "./send-queue.js";
