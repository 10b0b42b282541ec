import Curl
import DSR
import DSRPortal
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TestSupport

/// The privacy portal in the test process on a free loopback port, with its log captured,
/// stopped like `dsrd portal` on SIGTERM.
public final class PortalHarness: Sendable {
    private let log = LogCapture()
    private let group: ServiceGroup
    private let task: Task<Void, Never>
    public let port: Int
    /// The link key the daemon needs too (`portal.link_key_file`).
    public let linkKeyFile: String

    /// What it logged.
    public var output: String { log.text }
    public var url: String { "http://127.0.0.1:\(port)" }

    /// Settings a daemon needs so its notices link this portal.
    public var daemonSettings: [String] {
        ["--set", "portal.link_key_file=\(linkKeyFile)", "--set", "portal.public_url=\(url)"]
    }

    public init(database: TestDatabase, exports: URL, settings: [String] = []) async throws {
        let key = FileManager.default.temporaryDirectory.appendingPathComponent("portal-\(UUID()).key")
        var generator = SystemRandomNumberGenerator()
        try Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: key)
        linkKeyFile = key.path
        let configuration = try ConfigurationLoader(environment: [:]).load(
            file: exampleConfigFile,
            overrides: [
                "database.url=\(database.conninfo)", "exports.directory=\(exports.path)", "portal.link_key_file=\(key.path)",
                "portal.listen_port=0", "portal.secure_cookies=false", "company.name_th=บริษัท ตัวอย่าง จำกัด",
                "company.name_en=Example Co., Ltd.", "company.contact_email=dpo@example.co.th", "company.contact_phone=02-000-0000",
            ] + settings)
        let log = self.log
        let logger = Logger(label: "dsrd-portal") { _ in log.handler(level: .info) }
        let server = try PortalServer(
            configuration: configuration,
            pool: ConnectionPool(conninfo: try configuration.databaseConninfo(), maximum: configuration.portal.databaseConnections),
            logger: logger)
        let bound = AsyncStream<Int>.makeStream()
        let group = ServiceGroup(
            services: [server.application { port in bound.continuation.yield(port) }], gracefulShutdownSignals: [], logger: logger)
        self.group = group
        task = Task { try? await group.run() }
        var iterator = bound.stream.makeAsyncIterator()
        port = await iterator.next() ?? 0
    }

    public func stop() async {
        await group.triggerGracefulShutdown()
        await task.value
        try? FileManager.default.removeItem(atPath: linkKeyFile)
    }

    /// A browser without JavaScript: keeps cookies, follows nothing by itself.
    public func browser(address: String = "127.0.0.1") -> PortalBrowser { PortalBrowser(base: url, address: address) }
}

/// Requests to the portal with a cookie jar, as a browser sends them.
public final class PortalBrowser: @unchecked Sendable {
    let base: String
    /// Sent as `X-Forwarded-For`, as the TLS proxy would.
    let address: String
    public private(set) var cookies: [String: String] = [:]

    init(base: String, address: String) {
        self.base = base
        self.address = address
    }

    public var csrf: String { cookies["dsr_csrf"] ?? "" }

    public func get(_ path: String) async throws -> HTTPResponse {
        try await send(HTTPRequest(method: "GET", url: base + path))
    }

    /// Posts a form; the CSRF token from the cookie is added unless `csrf` is false.
    public func post(_ path: String, _ fields: [(String, String)], csrf: Bool = true) async throws -> HTTPResponse {
        let all = (csrf ? [("csrf", self.csrf)] : []) + fields
        let body = all.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        return try await post(path, body: Data(body.utf8))
    }

    public func post(_ path: String, body: Data) async throws -> HTTPResponse {
        try await send(
            HTTPRequest(
                method: "POST", url: base + path, headers: [("Content-Type", "application/x-www-form-urlencoded")], body: body))
    }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        var request = request
        request.headers.append(("X-Forwarded-For", address))
        if !cookies.isEmpty {
            request.headers.append(("Cookie", cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")))
        }
        request.maxResponseBytes = 64 << 20
        let response = try await HTTPClient().send(request)
        for header in response.header("Set-Cookie") {
            let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
            if pair.count == 2 { cookies[String(pair[0])] = String(pair[1]) }
        }
        return response
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
