import Curl
import Foundation

/// Tells one processor (a `[[processors]]` entry of a mapping) of a request that changes the
/// data it holds for the company: an erasure, a rectification, an objection, a consent
/// withdrawal (and restriction, if listed). One event per request and processor, POSTed as
/// JSON, signed (`DSR-Signature`), with the same `DSR-Event-Id` on every retry so the
/// processor can drop repeats. Any 2xx is its acknowledgement, recorded with its reply.
public struct ProcessorWebhook: Sendable {
    public let processor: StoreMapping.Processor
    /// The mapping whose data the processor holds.
    public let store: String
    let signer: RequestSigner
    let client = HTTPClient()

    public init(processor: StoreMapping.Processor, store: String, secret: String) {
        self.processor = processor
        self.store = store
        self.signer = RequestSigner(secret: secret)
    }

    /// What is POSTed. Holds the person's identifiers: the processor must find them.
    public struct Event: Encodable, Sendable {
        public var eventID: String
        public var type: String
        public var requestID: String
        public var store: String
        public var identity: IdentitySet
        /// Rectification: field -> corrected value.
        public var changes: [String: String]?
        /// Restriction: true when it is lifted.
        public var lift: Bool?
        /// Objection or withdrawal: the purposes (all when empty).
        public var purposes: [String]?

        enum CodingKeys: String, CodingKey {
            case type, store, identity, changes, lift, purposes
            case eventID = "event_id"
            case requestID = "request_id"
        }
    }

    /// What the processor answered, as the task's outcome and the proof record it. No personal data.
    public struct Acknowledgement: Codable, Sendable, Equatable {
        public var processor: String
        public var eventID: String
        public var status: Int
        /// The processor's reply (its reference for the deletion, say), at most 500 characters.
        public var acknowledgement: String
        public var acknowledgedAt: String

        enum CodingKeys: String, CodingKey {
            case processor, status, acknowledgement
            case eventID = "event_id"
            case acknowledgedAt = "acknowledged_at"
        }
    }

    public static func eventID(request: UUID, processor: String) -> String { "\(request.uuidString.lowercased()):\(processor)" }

    public func event(kind: RequestKind, requestID: UUID, identity: IdentitySet, change: StoreChange?) -> Event {
        var event = Event(
            eventID: Self.eventID(request: requestID, processor: processor.name), type: kind.rawValue,
            requestID: requestID.uuidString.lowercased(), store: store, identity: identity)
        switch change {
        case .rectify(let changes): event.changes = changes
        case .restrict(let lift): event.lift = lift
        case .object(let purposes): event.purposes = purposes
        case nil: break
        }
        return event
    }

    /// Delivers the event once; throws (and the task retries) unless the processor answers 2xx.
    public func deliver(_ event: Event) async throws -> Acknowledgement {
        let body = try CanonicalJSON.data(event)
        let headers: [(name: String, value: String)] =
            [("Content-Type", "application/json"), ("DSR-Event-Id", event.eventID)]
            + signer.headers(method: "POST", url: processor.url, body: body)
        let response: HTTPResponse
        do {
            response = try await client.send(HTTPRequest(method: "POST", url: processor.url, headers: headers, body: body))
        } catch let error as CurlError {
            throw ConnectorError.unreachable(store: processor.taskName, reason: error.description)
        }
        guard (200..<300).contains(response.status) else {
            throw ConnectorError.unreachable(store: processor.taskName, reason: "HTTP \(response.status)")
        }
        let reply = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
        return Acknowledgement(
            processor: processor.name, eventID: event.eventID, status: response.status, acknowledgement: String(reply.prefix(500)),
            acknowledgedAt: DateTexts.iso(Date()))
    }
}
