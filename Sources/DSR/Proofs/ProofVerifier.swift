import Crypto
import Foundation

/// Checks a proof file offline with only the public key: the payload's digest, the
/// signature, and that the audit entry it carries is computed correctly from the digest and
/// the previous entry. With the database at hand, `dsrd verify-proof --database-url` also
/// checks that the entry is in `dsr.audit_log` and that the chain up to it is intact.
public enum ProofVerifier {
    public struct Verdict: Sendable, Equatable {
        public var valid: Bool
        public var reasons: [String]
        /// The erasure request, or for a sweep's proof the sweep.
        public var requestID: String?
        public var seq: Int64?
        /// A retention sweep's proof, not a deletion proof.
        public var isSweep = false
    }

    public static func verify(file data: Data, publicKey: Curve25519.Signing.PublicKey) -> Verdict {
        var reasons: [String] = []
        guard let file = try? JSONDecoder().decode(DeletionProofFile.self, from: data),
            file.format == "dsrd-deletion-proof" || file.format == SweepProofPayload.format
        else {
            return Verdict(valid: false, reasons: ["not a dsrd deletion proof (unreadable JSON or wrong format)"], requestID: nil, seq: nil)
        }
        let payload = Data(file.payload.utf8)
        if Digests.sha256Hex(payload) != file.payloadSHA256 {
            reasons.append("payload_sha256 does not match the payload: the proof was altered")
        }
        if file.keyID != ProofKeys.keyID(of: publicKey) {
            reasons.append("signed with key \(file.keyID), not with the given public key \(ProofKeys.keyID(of: publicKey))")
        }
        if let signature = Data(base64Encoded: file.signature) {
            if !publicKey.isValidSignature(signature, for: payload) { reasons.append("the signature does not match the payload") }
        } else {
            reasons.append("the signature is not base64")
        }
        // The audit entry names the erasure request, or the sweep.
        let requestID =
            file.format == SweepProofPayload.format
            ? (try? JSONDecoder().decode(SweepProofPayload.self, from: payload))?.sweepID
            : (try? JSONDecoder().decode(DeletionProofPayload.self, from: payload))?.requestID
        if requestID == nil { reasons.append("the payload is not a \(file.format) payload") }
        if let audit = file.audit, let requestID {
            let expected = DeletionProofFile.entryHash(
                prev: audit.prevHash, seq: audit.seq, requestID: requestID, proofSHA256: file.payloadSHA256)
            if expected != audit.entryHash { reasons.append("audit entry #\(audit.seq) does not match the proof digest and previous hash") }
        } else {
            reasons.append("the proof carries no audit-log entry")
        }
        return Verdict(
            valid: reasons.isEmpty, reasons: reasons, requestID: requestID, seq: file.audit?.seq,
            isSweep: file.format == SweepProofPayload.format)
    }
}
