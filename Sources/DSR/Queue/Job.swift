import Foundation
import Postgres

/// A claimed job, as a handler sees it.
public struct Job: Sendable, Equatable {
    public let id: Int64
    /// Which handler runs it (`request`, `probe`, ...).
    public let kind: String
    public let requestID: UUID?
    /// Handler input as JSON text; never personal data.
    public let payload: String
    /// This claim's attempt number, starting at 1. Also the fencing token for completion.
    public let attempt: Int
    public let maxAttempts: Int

    public init(id: Int64, kind: String, requestID: UUID?, payload: String, attempt: Int, maxAttempts: Int) {
        self.id = id
        self.kind = kind
        self.requestID = requestID
        self.payload = payload
        self.attempt = attempt
        self.maxAttempts = maxAttempts
    }

    public var isLastAttempt: Bool { attempt >= maxAttempts }

    public func decodePayload<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(payload.utf8))
        } catch {
            throw JobFailure.permanent("payload of job \(id) does not decode as \(T.self)")
        }
    }
}

/// A statement a handler wants committed atomically with its job's completion.
public struct SQLStatement: Sendable {
    public let sql: String
    public let parameters: [any PostgresEncodable]

    public init(_ sql: String, _ parameters: [any PostgresEncodable] = []) {
        self.sql = sql
        self.parameters = parameters
    }
}
