import Crypto
import Foundation
import Postgres

/// Checks a proof's entry against `dsr.audit_log`, and the chain's links up to it.
public enum AuditChain {
    public static func check(connection: PostgresConnection, requestID: String, seq: Int64, proof: Data) async throws -> [String] {
        var problems: [String] = []
        guard let file = try? JSONDecoder().decode(DeletionProofFile.self, from: proof), let audit = file.audit else {
            return ["the proof carries no audit-log entry"]
        }
        let rows = try await connection.query(
            "SELECT coalesce(request_id, sweep_id)::text AS request_id, proof_sha256, prev_hash, entry_hash FROM dsr.audit_log WHERE seq = $1",
            [seq])
        if let row = rows.first {
            if try row.decode("request_id", as: String.self) != requestID {
                problems.append("audit entry #\(seq) belongs to another request or sweep")
            }
            if try row.decode("proof_sha256", as: String.self) != file.payloadSHA256 {
                problems.append("audit entry #\(seq) records a different proof digest")
            }
            if try row.decode("entry_hash", as: String.self) != audit.entryHash
                || row.decode("prev_hash", as: String.self) != audit.prevHash
            {
                problems.append("audit entry #\(seq) in the database differs from the one in the proof")
            }
        } else {
            problems.append("audit entry #\(seq) is missing from dsr.audit_log")
        }
        for row in try await connection.query("SELECT seq, problem FROM dsr.verify_audit_chain() WHERE NOT ok AND seq <= $1", [seq]) {
            problems.append(
                "audit chain broken at entry #\(try row.decode("seq", as: Int64.self)): \(try row.decode("problem", as: String?.self) ?? "")"
            )
        }
        return problems
    }
}

/// Lets the executable hold a public key without importing Crypto itself.
public struct Curve25519PublicKeyBox {
    public let key: Curve25519.Signing.PublicKey
    public init(_ key: Curve25519.Signing.PublicKey) { self.key = key }
}
