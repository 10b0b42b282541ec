import Curl
import Foundation

/// A store behind a JSON REST API (a SaaS product), following the contract in
/// `Config/connectors/README.md`:
///
/// - export: dsrd POSTs `{"identity": {...}}` to `url + export_path`; the store answers
///   `{"tables": {"name": [{"column": value, ...}, ...]}}`. Only tables named in the mapping
///   are kept. Responses are bounded (4 MiB); page large histories on the store's side.
/// - erase and change: dsrd POSTs `{"request_id", "operation", "identity", ...}` to
///   `url + erase_path` or `url + update_path` with an `Idempotency-Key` (one per request and
///   store: a repeat after a crash must not act twice). The store answers 200
///   `{"status": "done", "tables": {...counts}}`, or 202 `{"status": "pending", "status_url"}`
///   for work that takes hours or days, which dsrd polls (`GET`) until it is done or failed.
///
/// Every call carries `DSR-Signature` when `signing_secret_file` is set, and the bearer token
/// when `token_file` is.
public struct HTTPConnector: Connector {
    public let mapping: StoreMapping
    let token: String
    let signer: RequestSigner
    let client = HTTPClient()

    public init(mapping: StoreMapping, token: String, signingSecret: String = "") {
        self.mapping = mapping
        self.token = token
        self.signer = RequestSigner(secret: signingSecret)
    }

    public func resolve(_ identity: IdentitySet) async throws -> Resolution {
        Resolution(identity: IdentitySet(), matches: 0)
    }

    public func discover(_ identity: IdentitySet) async throws -> [String: Int] {
        try await fetch(identity).mapValues(\.count)
    }

    public func export(_ identity: IdentitySet, into directory: URL, formats: ExportFormats) async throws -> [ExportedFile] {
        let tables = try await fetch(identity)
        var files: [ExportedFile] = []
        let pack = StagingPack(directory: directory, store: mapping.name)
        for table in mapping.tables {
            let writer = try TableFileWriter(pack: pack, table: table.name, formats: formats)
            let rows = tables[table.name] ?? []
            let columns = Array(Set(rows.flatMap(\.keys))).sorted()
            for row in rows {
                try writer.write(columns: columns, values: columns.map { Self.value(row[$0] ?? NSNull()) })
            }
            files += try writer.finish()
        }
        return files
    }

    /// HTTP stores erase through ``submit(_:identity:change:requestID:)`` and
    /// ``poll(_:)`` (the task handler records the asynchronous job in between); this entry
    /// point, for stores that erase in one call, is not theirs.
    public func erase(
        _ identity: IdentitySet, keys: ProofKeys, record: @Sendable (StoreErasure) async throws -> Void
    ) async throws -> StoreErasure {
        throw JobFailure.permanent("store \(mapping.name) is an http store: it erases through submit and poll")
    }

    public func remainder(_ identity: IdentitySet) async throws -> [String: StoreErasure.Remainder] {
        try await discover(identity).mapValues { StoreErasure.Remainder(matching: $0, notAnonymised: $0) }
    }

    public func update(_ identity: IdentitySet, change: StoreChange, beforeCommit: @Sendable () async throws -> Void) async throws
        -> StoreUpdate
    {
        throw JobFailure.permanent("store \(mapping.name) is an http store: it changes data through submit and poll")
    }

    /// What the store said about an erasure or a change.
    public enum Answer: Sendable, Equatable {
        /// Finished: counts per table.
        case done([String: Counts])
        /// Accepted and still running: poll this URL.
        case pending(statusURL: String)
        /// The store will not do it, and says why.
        case failed(String)
    }

    /// One table's counts in a finished answer.
    public struct Counts: Codable, Sendable, Equatable {
        public var deleted: Int?
        public var anonymised: Int?
        public var held: Int?
        public var heldRule: String?
        public var updated: Int?

        enum CodingKeys: String, CodingKey {
            case deleted, anonymised, held, updated
            case heldRule = "held_rule"
        }
    }

    /// The key that makes a repeated request a no-op on the store's side.
    public static func idempotencyKey(request: UUID, store: String) -> String { "\(request.uuidString.lowercased()):\(store)" }

    /// Asks the store to erase the person or apply a change.
    public func submit(_ operation: StoreOperation, identity: IdentitySet, change: StoreChange?, requestID: UUID) async throws -> Answer {
        var body: [String: Any] = [
            "request_id": requestID.uuidString.lowercased(), "operation": operation.rawValue,
            "identity": try JSONSerialization.jsonObject(with: JSONEncoder().encode(identity)),
        ]
        switch change {
        case .rectify(let changes):
            // A mapping that lists `rectify` columns gets them under its own names (an `email`
            // correction goes to whichever field it names as the email); one that lists none
            // gets every change as the person named it, and the service decides.
            var fields: [String: String] = [:]
            for table in mapping.tables {
                for (field, value) in changes { for column in table.rectifyColumns(for: field) { fields[column] = value } }
            }
            body["changes"] = mapping.tables.allSatisfy(\.rectify.isEmpty) ? changes : fields
        case .restrict(let lift): body["lift"] = lift
        case .object(let purposes): body["purposes"] = purposes
        case nil: break
        }
        let path = operation == .erase ? mapping.http.erasePath : mapping.http.updatePath
        let data = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        let response = try await send(
            "POST", url: mapping.url + path, body: data,
            extraHeaders: [("Idempotency-Key", Self.idempotencyKey(request: requestID, store: mapping.name))])
        return try answer(response, polling: nil)
    }

    /// Asks the store how an accepted erasure or change is going.
    public func poll(_ statusURL: String) async throws -> Answer {
        try answer(try await send("GET", url: statusURL, body: Data(), extraHeaders: []), polling: statusURL)
    }

    func answer(_ response: HTTPResponse, polling: String?) throws -> Answer {
        let object = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] ?? [:]
        let status = object["status"] as? String
        switch response.status {
        case 200, 201, 202:
            if status == "failed" { return .failed(Self.reason(object, response)) }
            if response.status == 202 || status == "pending" {
                guard let url = (object["status_url"] as? String) ?? response.header("Location").first ?? polling else {
                    throw ConnectorError.invalidResponse(store: mapping.name, reason: "202 without status_url or Location")
                }
                return .pending(statusURL: try sameOrigin(url))
            }
            guard let tables = object["tables"] as? [String: Any],
                let counts = try? JSONDecoder().decode(
                    [String: Counts].self, from: JSONSerialization.data(withJSONObject: tables))
            else {
                throw ConnectorError.invalidResponse(
                    store: mapping.name, reason: "expected {\"status\": \"done\", \"tables\": {\"name\": {\"deleted\": n, ...}}}")
            }
            return .done(counts)
        case 408, 429, 500...599:
            throw ConnectorError.unreachable(store: mapping.name, reason: "HTTP \(response.status)")
        default:
            return .failed("HTTP \(response.status): \(Self.reason(object, response))")
        }
    }

    static func reason(_ object: [String: Any], _ response: HTTPResponse) -> String {
        String(((object["reason"] as? String) ?? (object["error"] as? String) ?? "no reason given").prefix(300))
    }

    /// A status URL, made absolute; one on another host is refused (dsrd would send its
    /// signed requests wherever a store's answer pointed).
    func sameOrigin(_ url: String) throws -> String {
        guard let base = URL(string: mapping.url), let resolved = URL(string: url, relativeTo: base)?.absoluteURL,
            resolved.scheme == base.scheme, resolved.host == base.host, resolved.port == base.port
        else { throw ConnectorError.invalidResponse(store: mapping.name, reason: "status URL is not on the store's own host") }
        return resolved.absoluteString
    }

    func send(_ method: String, url: String, body: Data, extraHeaders: [(name: String, value: String)]) async throws -> HTTPResponse {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")] + extraHeaders
        if !token.isEmpty { headers.append(("Authorization", "Bearer \(token)")) }
        headers += signer.headers(method: method, url: url, body: body)
        do {
            return try await client.send(HTTPRequest(method: method, url: url, headers: headers, body: method == "GET" ? nil : body))
        } catch let error as CurlError {
            throw ConnectorError.unreachable(store: mapping.name, reason: error.description)
        }
    }

    private func fetch(_ identity: IdentitySet) async throws -> [String: [[String: Any]]] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let response = try await send(
            "POST", url: mapping.url + mapping.exportPath, body: try encoder.encode(["identity": identity]), extraHeaders: [])
        guard (200..<300).contains(response.status) else {
            throw ConnectorError.unreachable(store: mapping.name, reason: "HTTP \(response.status)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
            let tables = object["tables"] as? [String: Any]
        else { throw ConnectorError.invalidResponse(store: mapping.name, reason: "expected {\"tables\": {...}}") }
        var result: [String: [[String: Any]]] = [:]
        for (name, rows) in tables {
            guard let rows = rows as? [[String: Any]] else {
                throw ConnectorError.invalidResponse(store: mapping.name, reason: "table \(name) is not an array of objects")
            }
            result[name] = rows
        }
        return result
    }

    static func value(_ any: Any) -> TableFileWriter.Value {
        switch any {
        case is NSNull: return .null
        case let text as String: return .string(text)
        case let number as NSNumber:
            // JSONSerialization gives booleans as NSNumber with the C type "c".
            if String(cString: number.objCType) == "c" { return .json(number.boolValue ? "true" : "false") }
            return .json(number.stringValue)
        default:
            let data = (try? JSONSerialization.data(withJSONObject: any, options: [.sortedKeys])) ?? Data("null".utf8)
            let text = String(decoding: data, as: UTF8.self)
            return .json(text)
        }
    }
}
