/** The audit of a cluster from its replicas' ledgers: `pbft verify` as a library. */
export {
  verifyCluster,
  checkCommitCertificate,
  checkCheckpointProof,
  checkFaultyIds,
  type VerifyOptions,
  type VerifyReport,
  type ReplicaVerify,
  type CheckResult,
  type CheckName,
  type CheckStatus,
  type Evidence,
  type EvidenceKind,
} from './verify.js';
export { formatVerifyReport } from './format.js';
