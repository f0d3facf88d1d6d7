/**
 * Public surface of src/common: errors and their wire mapping, retry, logging, configuration and
 * hybrid timestamps. Other folders import from here (`../common/index.js`).
 */
export * from './errors.js';
export * from './grpc-status.js';
export * from './retry.js';
export * from './log.js';
export * from './config.js';
export * from './hybrid-ts.js';
