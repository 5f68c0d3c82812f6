/** The spool's public surface: everything outside src/spool imports from here. */
export { openSpool } from './open-spool.js';
export { spoolLayout, messagePath, statePath, deliveryLogPath, type Spool } from './paths.js';
export { enqueueMessage, type EnqueueRequest, type EnqueueResult, type MessageSource } from './enqueue.js';
export { readEntryState, writeEntryState, updateEntryState, REMOVE_ENTRY } from './state-store.js';
export { listEntryIds, scanEntries, readEntryForScan, type ScanOptions } from './scan.js';
export { removeEntry, quarantineEntry } from './entry-files.js';
export { toLogRecords, DeliveryLogWriter, type DeliveryLogRecord } from './delivery-log.js';
export { repairSpool, type RepairReport } from './repair.js';
export {
  tryLock,
  lockWithin,
  lockHolder,
  instanceLockPath,
  entryBusyLockPath,
  entryStateLockPath,
  type HeldLock,
  type LockOwner,
} from './locks.js';
export { DirSyncer } from './dir-syncer.js';
export { readWholeFileSync } from './durable-fs.js';
export { entryLockDir, removeEntryLockTarget } from './entry-lock-dir.js';
export { readRecord, writeRecord, recordPath, type RecordName } from './records.js';
export { readAccountHold, writeAccountHold, clearAccountHold, clearAccountHolds, listAccountHolds } from './account-holds.js';
