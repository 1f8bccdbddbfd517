export * from "./client.js";
export * from "./wire.js";
