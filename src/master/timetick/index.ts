/**
 * Public surface of src/master/timetick: the soft barrier over proxies, the hard barrier over
 * DataNodes, and the producer of TimeTicks on the DML channels.
 */
export { SoftBarrier, type SoftBarrierOptions, type SoftBarrierEvents, type ProxyTick } from './soft-barrier.js';
export { HardBarrier, type HardBarrierOptions, type WaitOptions } from './hard-barrier.js';
export {
  TimeTickProducer,
  DEFAULT_TIME_TICK_INTERVAL_MS,
  encodeTimeTick,
  decodeTimeTick,
  type TimeTickProducerOptions,
  type TimeTickProducerState,
  type TimeTickProducerEvents,
} from './time-tick-producer.js';
export { TsLock } from './ts-lock.js';
