/** Public surface of src/standalone: master and DataNode in one process. */
export { Standalone, standaloneConfig, type StandaloneDirs, type StandaloneOptions } from './standalone.js';
