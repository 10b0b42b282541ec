import Crypto
import DSR
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Postgres

/// The privacy portal: server-rendered pages (no JavaScript) over dsrd's database.
///
/// - `GET /`, `POST /requests`: choose a right, give identifiers, submit (`dsr.submit`). The
///   answer is the same whether or not the stores know the person: "if we hold your details,
///   a code is on its way to the contact we have on file".
/// - `GET /verify`, `POST /verify`, `POST /verify/resend`: enter the one-time code
///   (`dsr.confirm_verification_code`); a wrong, expired or never-sent code get the same reply.
/// - `GET /s/<token>`: the request's status page, reached through the link every notice
///   carries (`StatusLinks`); `POST /s/<token>/download` makes a one-time download link.
/// - `GET /d/<token>`: streams the export once (`dsr.claim_download`), records `delivered_at`.
///
/// Every form carries a CSRF token matching an HttpOnly, SameSite=Strict cookie; rate limits
/// live in PostgreSQL (`dsr.rate_limit_hit`) so several portal processes share them; the log
/// holds request ids only.
public struct PortalServer: Sendable {
    let configuration: DSRConfiguration
    let pool: ConnectionPool
    let links: StatusLinks
    let pages: PortalPages
    let exportsDirectory: URL
    let logger: Logger
    let correctableFields = CorrectableFields()

    public init(configuration: DSRConfiguration, pool: ConnectionPool, logger: Logger) throws {
        guard let links = try StatusLinks.load(configuration) else {
            throw ConfigurationError("portal.link_key_file must be set for the portal (32 random bytes)")
        }
        self.configuration = configuration
        self.pool = pool
        self.links = links
        pages = try PortalPages(
            directory: configuration.resolvedPath(configuration.notices.templatesDirectory) + "/portal", company: configuration.company)
        exportsDirectory = URL(fileURLWithPath: configuration.resolvedPath(configuration.exports.directory))
        self.logger = logger
    }

    /// The Hummingbird application; `onRunning` receives the bound port (0 in the configuration picks one).
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router(context: PortalContext.self)
        router.add(middleware: SecurityHeaders(strictTransport: configuration.portal.secureCookies, pages: pages, logger: logger))
        router.get("/") { request, _ in
            await correctableFields.refresh(from: pool)
            return formPage(request, error: nil)
        }
        router.post("/requests") { request, context in try await submit(request, context: context) }
        router.get("/verify") { request, _ in verifyPage(request, notice: nil) }
        router.post("/verify") { request, context in try await confirm(request, context: context) }
        router.post("/verify/resend") { request, context in try await resend(request, context: context) }
        router.get("/s/:token") { request, context in try await statusPage(request, token: context.parameters.get("token") ?? "") }
        router.post("/s/:token/download") { request, context in
            try await makeDownloadLink(request, context: context, token: context.parameters.get("token") ?? "")
        }
        router.get("/d/:token") { request, context in
            try await download(request, context: context, token: context.parameters.get("token") ?? "")
        }
        router.get("/style.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: pages.stylesheet)))
        }
        return Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.portal.listenHost, port: configuration.portal.listenPort), serverName: nil),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    // MARK: Pages

    func formPage(_ request: Request, error: String?, status: HTTPResponse.Status = .ok) -> Response {
        let language = Self.language(of: request)
        let csrf = CSRFToken(request: request)
        var values: [String: Any] = ["csrf": csrf.value]
        if let error { values["error"] = error }
        values["kinds"] = RequestKind.allCases.map { kind in
            ["value": kind.rawValue, "label": NoticeVocabulary.kindLabel(kind.rawValue, locale: language.rawValue)]
        }
        // A field the portal has words for is shown in them, any other by its own name.
        values["change_fields"] = correctableFields.current.map { field in
            ["value": field, "label": pages.wordIfAny("field_" + field, language) ?? field]
        }
        return respond(
            status, page: "form", values: values, request: request, cookies: csrf.cookies(secure: secure) + languageCookie(request))
    }

    func verifyPage(_ request: Request, notice: String?, status: HTTPResponse.Status = .ok, locked: Bool = false) -> Response {
        guard pendingRequest(request) != nil else { return Self.redirect("/") }
        let csrf = CSRFToken(request: request)
        var values: [String: Any] = ["csrf": csrf.value, "locked": locked]
        if let notice { values["notice"] = pages.word(notice, Self.language(of: request)) }
        return respond(status, page: "verify", values: values, request: request, cookies: csrf.cookies(secure: secure))
    }

    func statusPage(_ request: Request, token: String) async throws -> Response {
        guard let id = links.request(fromToken: token) else { throw HTTPError(.notFound) }
        let language = Self.language(of: request)
        let rows = try await pool.withConnection { connection in
            try await connection.query("SELECT * FROM dsr.portal_status($1)", [id])
        }
        guard let row = rows.first, let kind = try row.decode("kind", as: String?.self) else { throw HTTPError(.notFound) }
        let status = try row.decode("status", as: String.self)
        let hold = try row.decode("hold_reason", as: String?.self)
        let download = try row.decode("download", as: String.self)
        let zone = TimeZone(identifier: configuration.notices.timeZone) ?? .gmt
        func date(_ column: String) throws -> String? {
            try row.decode(column, as: Date?.self).map { NoticeVocabulary.date($0, locale: language.rawValue, timeZone: zone) }
        }
        let csrf = CSRFToken(request: request)
        var values: [String: Any] = [
            "csrf": csrf.value, "token": token, "short_id": String(id.uuidString.lowercased().prefix(8)),
            "kind_label": NoticeVocabulary.kindLabel(kind, locale: language.rawValue),
            "status_label": pages.word(
                "status_" + (hold.map { $0 == "approval" ? "under_review" : "awaiting_verification" } ?? status), language),
            "received_date": try date("received_at") ?? "", "due_date": try date("due_at") ?? "",
            "download_\(download)": true,
        ]
        if let completed = try date("completed_at") { values["completed_date"] = completed }
        if let delivered = try date("delivered_at") { values["delivered_date"] = delivered }
        if let reason = try row.decode("refusal_reason", as: String?.self) { values["refusal_reason"] = reason }
        if hold == "unverified" { values["waiting_for_code"] = true }
        return respond(.ok, page: "status", values: values, request: request, cookies: csrf.cookies(secure: secure))
    }

    // MARK: Actions

    func submit(_ request: Request, context: PortalContext) async throws -> Response {
        let form = try await readForm(request, context: context)
        guard CSRFToken.matches(request, form) else { return forbidden(request) }
        let language = Self.language(of: request)
        guard let kind = form["kind"].flatMap(RequestKind.init(rawValue:)) else {
            return formPage(request, error: pages.word("error_kind", language), status: .badRequest)
        }
        var subject: [String: String] = [:]
        for field in ["email", "phone", "customer_id", "national_id", "name"] { subject[field] = form[field] }
        guard subject.keys.contains(where: { $0 != "name" }) else {
            return formPage(request, error: pages.word("error_identifier", language), status: .badRequest)
        }
        let address = clientAddress(request, context: context)
        guard try await allowed("submit-address:\(address)", configuration.portal.submissionsPerAddress, perSeconds: 3600) else {
            return formPage(request, error: pages.word("error_too_many", language), status: .tooManyRequests)
        }
        for (field, value) in subject.sorted(by: { $0.key < $1.key }) where field != "name" {
            guard
                try await allowed(
                    "submit-identifier:\(field):\(value.lowercased())", configuration.portal.submissionsPerIdentifier, perSeconds: 86_400)
            else { return formPage(request, error: pages.word("error_too_many", language), status: .tooManyRequests) }
        }
        var options: [String: Any] = ["locale": language.rawValue]
        switch kind {
        case .rectification:
            guard let field = form["change_field"], let value = form["change_value"] else {
                return formPage(request, error: pages.word("error_change", language), status: .badRequest)
            }
            options["changes"] = [field: value]
        case .objection, .consentWithdrawal:
            let purposes = form.all("purposes").filter { $0.range(of: #"^[a-z][a-z0-9_]{0,62}$"#, options: .regularExpression) != nil }
            if !purposes.isEmpty { options["purposes"] = purposes }
        default:
            break
        }
        // A double click or a reload submits the same form again: one request.
        options["idempotency_key"] = "portal:" + Digests.sha256Hex(Data((CSRFToken(request: request).value + canonical(form)).utf8))
        let subjectJSON = String(decoding: try JSONSerialization.data(withJSONObject: subject, options: [.sortedKeys]), as: UTF8.self)
        let optionsJSON = String(decoding: try JSONSerialization.data(withJSONObject: options, options: [.sortedKeys]), as: UTF8.self)
        let id: UUID
        do {
            id = try await pool.withConnection { connection in
                try await connection.query(
                    "SELECT dsr.submit($1, $2::jsonb, $3::jsonb) AS id", [kind.rawValue, subjectJSON, optionsJSON]
                )[0].decode("id", as: UUID.self)
            }
        } catch let error as PostgresError where error.sqlState == "22023" {
            // dsr.submit's messages name the field and the rule, never the value.
            return formPage(request, error: pages.word("error_invalid", language) + " (\(error.message))", status: .badRequest)
        }
        logger.info("portal request submitted", metadata: ["dsr.request_id": "\(id.uuidString.lowercased())"])
        var response = Self.redirect("/verify")
        response.headers[values: .setCookie].append(
            cookie("dsr_pending", links.token(for: id), maxAge: 86_400))
        return response
    }

    /// What the code page's two forms check first: the CSRF token, the pending request (from
    /// its cookie) and the client address's rate limit: go on with the request and the form,
    /// or end with a response.
    func codeStep(_ request: Request, context: PortalContext) async throws -> CodeStep {
        let form = try await readForm(request, context: context)
        guard CSRFToken.matches(request, form) else { return .end(forbidden(request)) }
        guard let id = pendingRequest(request) else { return .end(Self.redirect("/")) }
        guard
            try await allowed(
                "code-address:\(clientAddress(request, context: context))", configuration.portal.codeTriesPerAddress, perSeconds: 3600)
        else { return .end(verifyPage(request, notice: "error_too_many", status: .tooManyRequests)) }
        return .go(id, form)
    }

    enum CodeStep {
        case go(UUID, PortalForm)
        case end(Response)
    }

    func confirm(_ request: Request, context: PortalContext) async throws -> Response {
        let id: UUID
        let form: PortalForm
        switch try await codeStep(request, context: context) {
        case .end(let response): return response
        case .go(let pending, let fields): (id, form) = (pending, fields)
        }
        // The database locks a request after verification_policy.max_attempts wrong codes,
        // counted alike whether or not a code was ever sent; this is a backstop per day.
        guard try await allowed("code-request:\(id.uuidString)", 20, perSeconds: 86_400) else {
            return verifyPage(request, notice: "code_locked", status: .tooManyRequests, locked: true)
        }
        let code = (form["code"] ?? "").filter { !$0.isWhitespace }
        let outcome = try await pool.withConnection { connection in
            try await connection.query("SELECT dsr.confirm_verification_code($1, $2) AS outcome", [id, code])[0].decode(
                "outcome", as: String.self)
        }
        switch outcome {
        case "verified", "already_verified":
            logger.info("portal request verified", metadata: ["dsr.request_id": "\(id.uuidString.lowercased())"])
            return Self.redirect("/s/\(links.token(for: id))")
        case "locked":
            return verifyPage(request, notice: "code_locked", status: .tooManyRequests, locked: true)
        default:
            return verifyPage(request, notice: "code_wrong", status: .unprocessableContent)
        }
    }

    func resend(_ request: Request, context: PortalContext) async throws -> Response {
        let id: UUID
        switch try await codeStep(request, context: context) {
        case .end(let response): return response
        case .go(let pending, _): id = pending
        }
        _ = try await pool.withConnection { connection in
            try await connection.query("SELECT dsr.send_verification_code($1)", [id])
        }
        return verifyPage(request, notice: "code_resent")
    }

    func makeDownloadLink(_ request: Request, context: PortalContext, token: String) async throws -> Response {
        let form = try await readForm(request, context: context)
        guard CSRFToken.matches(request, form) else { return forbidden(request) }
        guard let id = links.request(fromToken: token) else { throw HTTPError(.notFound) }
        let download = CSRFToken.random()
        let hash = Data(SHA256.hash(data: Data(download.utf8)))
        let outcome = try await pool.withConnection { connection in
            try await connection.query(
                "SELECT dsr.issue_download_link($1, $2, $3::interval) AS outcome",
                [id, hash, "\(configuration.portal.downloadLinkValidFor.components.seconds) seconds"]
            )[0].decode("outcome", as: String.self)
        }
        guard outcome == "issued" else { return Self.redirect("/s/\(token)") }
        return Self.redirect("/d/\(download)")
    }

    func download(_ request: Request, context: PortalContext, token: String) async throws -> Response {
        guard Digests.isHex(token, length: 64) else {
            return gone(request)
        }
        let hash = Data(SHA256.hash(data: Data(token.utf8)))
        let rows = try await pool.withConnection { connection in
            try await connection.query("SELECT request_id, export_file FROM dsr.claim_download($1)", [hash])
        }
        guard let row = rows.first, let file = try row.decode("export_file", as: String?.self), ExportFiles.isExportName(file)
        else { return gone(request) }
        let id = try row.decode("request_id", as: UUID.self)
        logger.info("export downloaded", metadata: ["dsr.request_id": "\(id.uuidString.lowercased())"])
        let body = try await FileIO().loadFile(path: exportsDirectory.appendingPathComponent(file).path, context: context)
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/zip",
                .contentDisposition: "attachment; filename=\"personal-data-\(id.uuidString.lowercased().prefix(8)).zip\"",
            ],
            body: body)
    }

    // MARK: Helpers

    var secure: Bool { configuration.portal.secureCookies }

    func readForm(_ request: Request, context: PortalContext) async throws -> PortalForm {
        let buffer = try await request.body.collect(upTo: configuration.portal.maxBodyBytes)
        do {
            return try PortalForm(body: Array(buffer.readableBytesView))
        } catch let invalid as PortalForm.Invalid {
            // The field's name only when it is one of the portal's own (a name may be anything).
            let known = [
                "form", "csrf", "kind", "email", "phone", "customer_id", "national_id", "name", "change_field", "change_value",
                "purposes", "code",
            ]
            logger.notice("portal form refused", metadata: ["dsr.field": "\(known.contains(invalid.field) ? invalid.field : "other")"])
            throw invalid
        }
    }

    /// The form's fields in a fixed order, for the idempotency key.
    func canonical(_ form: PortalForm) -> String {
        ["kind", "email", "phone", "customer_id", "national_id", "name", "change_field", "change_value"].map { form[$0] ?? "" }
            .joined(separator: "\u{1F}") + form.all("purposes").sorted().joined(separator: ",")
    }

    func allowed(_ bucket: String, _ limit: Int, perSeconds seconds: Int) async throws -> Bool {
        try await pool.withConnection { connection in
            try await connection.query("SELECT dsr.rate_limit_hit($1, $2, $3::interval) AS ok", [bucket, limit, "\(seconds) seconds"])[0]
                .decode("ok", as: Bool.self)
        }
    }

    /// The client's address: the last `X-Forwarded-For` entry (what our proxy saw) when the
    /// portal trusts it, else the peer.
    func clientAddress(_ request: Request, context: PortalContext) -> String {
        if configuration.portal.trustForwardedFor, let forwarded = request.headers[HTTPField.Name("X-Forwarded-For")!],
            let last = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty
        {
            return last
        }
        return context.remoteAddress?.ipAddress ?? "unknown"
    }

    func pendingRequest(_ request: Request) -> UUID? {
        Self.cookie("dsr_pending", in: request).flatMap { links.request(fromToken: $0) }
    }

    func respond(_ status: HTTPResponse.Status, page: String, values: [String: Any], request: Request, cookies: [String]) -> Response {
        var response = Self.html(status, pages.render(page, language: Self.language(of: request), values: values, path: request.uri.path))
        for cookie in cookies { response.headers[values: .setCookie].append(cookie) }
        return response
    }

    func forbidden(_ request: Request) -> Response {
        let language = Self.language(of: request)
        return Self.html(
            .forbidden,
            pages.render("message", language: language, values: ["message": pages.word("error_csrf", language)], path: request.uri.path))
    }

    func gone(_ request: Request) -> Response {
        let language = Self.language(of: request)
        return Self.html(
            .gone,
            pages.render("message", language: language, values: ["message": pages.word("download_gone", language)], path: request.uri.path))
    }

    func cookie(_ name: String, _ value: String, maxAge: Int) -> String {
        "\(name)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    func languageCookie(_ request: Request) -> [String] {
        guard let asked = request.uri.queryParameters["lang"].map(String.init), let language = Language(rawValue: asked) else { return [] }
        return [cookie("dsr_lang", language.rawValue, maxAge: 31_536_000)]
    }

    /// `?lang=` first, then the language cookie; Thai by default.
    static func language(of request: Request) -> Language {
        if let asked = request.uri.queryParameters["lang"].map(String.init), let language = Language(rawValue: asked) { return language }
        if let saved = cookie("dsr_lang", in: request), let language = Language(rawValue: saved) { return language }
        return .thai
    }

    static func cookie(_ name: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0] == name { return String(parts[1]) }
            }
        }
        return nil
    }

    static func html(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }
}
