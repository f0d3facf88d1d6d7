/**
 * Public surface of src/master/ddl: the DDL entry points (DdlManager), the scheduler that runs DDL
 * tasks one at a time in timestamp order, and the publisher that puts DDL messages on the channels.
 */
export {
  DdlManager,
  type DdlManagerOptions,
  type DdlConfig,
  type IdSource,
  type CreateCollectionInput,
  type DropCollectionInput,
  type PartitionInput,
  type CreateIndexInput,
} from './ddl-manager.js';
export {
  DdlScheduler,
  type DdlSchedulerOptions,
  type DdlSchedulerEvents,
  type DdlSchedulerState,
  type DdlTask,
  type DdlType,
  type TimestampSource,
  type TsLockLike,
} from './ddl-scheduler.js';
export { DdlPublisher, ddlBase, ddlMsgType, type DdlBody, type DdlPublisherOptions, type PublishedDdl } from './ddl-publisher.js';
