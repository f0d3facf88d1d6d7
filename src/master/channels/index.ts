/**
 * Public surface of src/master/channels: channel naming (DD channel, DML pchannels, vchannels) and
 * the placement of a collection's shards on the pchannels.
 */
export {
  ddChannelName,
  dmlChannelName,
  dmlChannelNames,
  vchannelName,
  parseVchannel,
  pchannelOf,
  type VchannelParts,
} from './channel-names.js';
export { assignShards, type ShardPlacement } from './shard-assignment.js';
