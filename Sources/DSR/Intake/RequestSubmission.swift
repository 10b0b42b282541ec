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

    public init(kind: String) { self.kind = kind }

    /// `dsr.submit`'s options argument (absent values are left out).
    struct Options: Encodable {
        var locale: String?
        var channels: [String]?
        var idempotencyKey: String?
        var receivedAt: String?
        var changes: [String: String]?
        var purposes: [String]?

        enum CodingKeys: String, CodingKey {
            case locale, channels, changes, purposes
            case idempotencyKey = "idempotency_key"
            case receivedAt = "received_at"
        }
    }

    func optionsJSON() throws -> String {
        try Self.json(
            Options(
                locale: locale, channels: channels, idempotencyKey: idempotencyKey, receivedAt: receivedAt, changes: changes,
                purposes: purposes))
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

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
