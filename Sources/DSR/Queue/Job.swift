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
    /// The row the claim read for the job's kind (``ClaimContext``): its request, as the
    /// claim found it. Nil for other kinds, or when the request was not found.
    public let context: PostgresRow?

    public init(
        id: Int64, kind: String, requestID: UUID?, payload: String, attempt: Int, maxAttempts: Int, context: PostgresRow? = nil
    ) {
        self.id = id
        self.kind = kind
        self.requestID = requestID
        self.payload = payload
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.context = context
    }

    /// Jobs are the same attempt of the same job; the context read with the claim is not compared.
    public static func == (lhs: Job, rhs: Job) -> Bool {
        lhs.id == rhs.id && lhs.kind == rhs.kind && lhs.requestID == rhs.requestID && lhs.payload == rhs.payload
            && lhs.attempt == rhs.attempt && lhs.maxAttempts == rhs.maxAttempts
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
