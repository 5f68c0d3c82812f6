/** The spool's public surface: everything outside src/spool imports from here (test/architecture enforces it). */
export { openSpool } from './open-spool.js';
export { inspectSpoolDirectories } from './spool-dirs.js';
export {
  spoolLayout,
  messagePath,
  statePath,
  deliveryLogPath,
  deletionLogPath,
  agentLogPath,
  lastProbePath,
  tmpPath,
  triggerSocketPath,
  type Spool,
} from './paths.js';
export { enqueueMessage, settleCommits, type EnqueueRequest, type EnqueueResult, type MessageSource } from './enqueue.js';
export {
  readEntryState,
  writeEntryState,
  updateEntryState,
  isStateCurrent,
  removeFinishedEntry,
  REMOVE_ENTRY,
  type EntryChange,
} from './state-store.js';
export { listEntryIds, listStateFileIdsIncludingFinished, scanEntries, readEntryForScan, isEntryReadError, type ScanOptions } from './scan.js';
export { removeEntry, quarantineEntry, checkMessageOpens, messageStream, readMessageHead } from './entry-files.js';
export { toLogRecords, DeliveryLogWriter, type DeliveryLogRecord } from './delivery-log.js';
export { toDeletionRecord, appendDeletionLog, type DeletionRecord } from './deletion-log.js';
export { repairSpool, countInterruptedCommits, type RepairReport, type RepairOptions } from './repair.js';
export { tryLock, lockWithin, lockHolder, bootTag, forgetBootId, type HeldLock, type LockOwner } from './lock-file.js';
export { instanceLockPath, entryBusyLockPath, entryStateLockPath, tokenRefreshLockPath } from './lock-names.js';
export { DirSyncer } from './dir-syncer.js';
export { readWholeFileSync } from './durable-fs.js';
export { removeEntryLockTarget } from './entry-lock-dir.js';
export {
  readRecord,
  writeRecord,
  recordPath,
  readJsonRecord,
  writeJsonRecord,
  type RecordName,
} from './records.js';
export {
  readAccountHold,
  writeAccountHold,
  clearAccountHold,
  clearAccountHolds,
  listAccountHolds,
  forgetAccountRecords,
} from './account-holds.js';
export { readLearntFigure, writeLearntFigure } from './learnt-figures.js';
export { nudgeFlusher, touchTrigger, listenForNudges } from './trigger.js';
export { crashPoint, forgetCrashSetting, type CrashPoint } from './crash-points.js';
export { TransactionJournal, type JournalRecipient } from './transaction-journal.js';
export { recoverJournals, type RecoveredTransaction, type CrashPolicy } from './journal-recovery.js';
export { FinishedEntries, roundLimits, DEFAULT_ROUND_LIMITS, type RoundLimits } from './finished-entries.js';
export { isFinishedEntry } from './journal-done-lines.js';
export { SendLedger, readSendLedger } from './send-ledger.js';
export {
  readOAuthToken,
  writeOAuthToken,
  type OAuthTokenRecord,
} from './oauth-tokens.js';
