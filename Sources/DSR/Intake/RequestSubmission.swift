import Foundation
import Postgres

/// A request as the command line builds it; submitted through `dsr.submit`, which does
/// all validation, so the CLI and psql users get the same rules and the same errors.
public struct RequestSubmission: Sendable {
    public var kind: String
    public var subject: [String: String] = [:]
    public var locale: String?
    public var channels: [String]?
    public var idempotencyKey: String?
    public var receivedAt: String?
    public var changes: [String: String]?
    public var purposes: [String]?
    /// Restriction only: lift an earlier restriction (`dsr.submit_lift_restriction`).
    public var lift = false
    /// An operator took the request and checked the person's identity there: no code is sent.
    public var verification: Verification?

    /// How an operator verified the person at submission (`dsr.submit`'s option verification).
    public struct Verification: Encodable, Sendable {
        /// in_person, documents or call_back.
        public var method: String
        /// What was checked ("Thai ID card seen at the Bangkok office"), never a copy of it.
        public var evidence: String
        /// Who checked.
        public var `operator`: String

        public init(method: String, evidence: String, operator: String) {
            self.method = method
            self.evidence = evidence
            self.operator = `operator`
        }
    }

    public init(kind: String) { self.kind = kind }

    /// `dsr.submit`'s options argument (absent values are left out).
    struct Options: Encodable {
        var locale: String?
        var channels: [String]?
        var idempotencyKey: String?
        var receivedAt: String?
        var changes: [String: String]?
        var purposes: [String]?
        var verification: Verification?

        enum CodingKeys: String, CodingKey {
            case locale, channels, changes, purposes, verification
            case idempotencyKey = "idempotency_key"
            case receivedAt = "received_at"
        }
    }

    func optionsJSON() throws -> String {
        try Self.json(
            Options(
                locale: locale, channels: channels, idempotencyKey: idempotencyKey, receivedAt: receivedAt, changes: changes,
                purposes: purposes, verification: verification))
    }

    static func json(_ value: some Encodable) throws -> String { try CanonicalJSON.string(value) }

    /// Submits the request and returns its id (an existing id for a reused idempotency key).
    public func submit(on connection: PostgresConnection) async throws -> UUID {
        let rows =
            lift
            ? try await connection.query(
                "SELECT dsr.submit_lift_restriction($1::jsonb, $2::jsonb) AS id", [try Self.json(subject), try optionsJSON()])
            : try await connection.query(
                "SELECT dsr.submit($1, $2::jsonb, $3::jsonb) AS id", [kind, try Self.json(subject), try optionsJSON()])
        return try rows[0].decode("id", as: UUID.self)
    }
}
