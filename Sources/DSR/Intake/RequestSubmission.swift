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

    func optionsJSON() throws -> String {
        var options: [String: Any] = [:]
        if let locale { options["locale"] = locale }
        if let channels { options["channels"] = channels }
        if let idempotencyKey { options["idempotency_key"] = idempotencyKey }
        if let receivedAt { options["received_at"] = receivedAt }
        if let changes { options["changes"] = changes }
        if let purposes { options["purposes"] = purposes }
        return try Self.json(options)
    }

    static func json(_ object: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
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
