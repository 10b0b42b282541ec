import Curl
import Foundation

/// A store behind a JSON REST API (a SaaS product). dsrd POSTs the person's identifiers to
/// `url + export_path` as `{"identity": {...}}`; the store answers
/// `{"tables": {"name": [{"column": value, ...}, ...]}}`. Only tables named in the mapping
/// are kept. Responses are bounded (4 MiB); page large histories on the store's side.
public struct HTTPConnector: Connector {
    public let mapping: StoreMapping
    let token: String
    let client = HTTPClient()

    public init(mapping: StoreMapping, token: String) {
        self.mapping = mapping
        self.token = token
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
        for table in mapping.tables {
            let writer = try TableFileWriter(directory: directory, store: mapping.name, table: table.name, formats: formats)
            let rows = tables[table.name] ?? []
            let columns = Array(Set(rows.flatMap(\.keys))).sorted()
            for row in rows {
                try writer.write(columns: columns, values: columns.map { Self.value(row[$0] ?? NSNull()) })
            }
            files += try writer.finish()
        }
        return files
    }

    /// Not offered by HTTP stores yet: the request fails for good with a clear reason (and
    /// the DPO hears of the dead job) rather than completing with a store left untouched.
    public func erase(
        _ identity: IdentitySet, keys: ProofKeys, record: @Sendable (StoreErasure) async throws -> Void
    ) async throws -> StoreErasure {
        throw JobFailure.permanent("store \(mapping.name) is an http store; erasure through HTTP stores is not supported yet")
    }

    public func remainder(_ identity: IdentitySet) async throws -> [String: StoreErasure.Remainder] {
        try await discover(identity).mapValues { StoreErasure.Remainder(matching: $0, notAnonymised: $0) }
    }

    public func update(_ identity: IdentitySet, change: StoreChange, beforeCommit: @Sendable () async throws -> Void) async throws
        -> StoreUpdate
    {
        throw JobFailure.permanent("store \(mapping.name) is an http store; changes through HTTP stores are not supported yet")
    }

    private func fetch(_ identity: IdentitySet) async throws -> [String: [[String: Any]]] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let body = try encoder.encode(["identity": identity])
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        if !token.isEmpty { headers.append(("Authorization", "Bearer \(token)")) }
        let response: HTTPResponse
        do {
            response = try await client.send(
                HTTPRequest(method: "POST", url: mapping.url + mapping.exportPath, headers: headers, body: body))
        } catch let error as CurlError {
            throw ConnectorError.unreachable(store: mapping.name, reason: error.description)
        }
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
