import Curl
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing
import ZIPFoundation

/// The privacy portal over HTTP on loopback, with the daemon working behind it: a person
/// submits, proves who they are with the code sent to the contact on file, follows the
/// request and downloads the answer once. Hostile input gets a clear page and writes nothing.
@Suite("Privacy portal")
struct PortalTests {
    static let notices = [
        "--set", "email.require_tls=false", "--set", "email.from_address=privacy@smarttec.example",
        "--set", "notices.dpo_email=dpo@smarttec.example",
    ]

    func location(_ response: HTTPResponse) -> String { response.header("Location").first ?? "" }

    /// The code in the newest verification mail to `recipient`.
    func mailedCode(in sink: ScriptedServer, to recipient: String) throws -> String? {
        try sink.messages().filter { header("To", in: $0) == "<\(recipient)>" }.compactMap(verificationCode(in:)).last
    }

    @Test func anAccessRequestFromThePortalIsVerifiedAnsweredAndDownloadedOnce() async throws {
        try await TestDatabase.migrated(verification: true) { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let sink = try await ScriptedServer.smtpSink()
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let portal = try await PortalHarness(database: database, exports: exports)
                let daemon = try BackgroundDaemon(
                    database.exportArguments(
                        exports, extra: Self.notices + ["--set", "email.smtp_url=smtp://127.0.0.1:\(sink.port)"] + portal.daemonSettings),
                    environment: stores.environment)
                let browser = portal.browser()

                let form = try await browser.get("/")
                #expect(form.status == 200 && form.header("Content-Type") == ["text/html; charset=utf-8"])
                #expect(form.text.contains("<html lang=\"th\">") && form.text.contains(browser.csrf) && !browser.csrf.isEmpty)
                let submitted = try await browser.post("/requests", [("kind", "access"), ("customer_id", "T-1")])
                #expect(submitted.status == 303 && location(submitted) == "/verify", "\(submitted.text)")
                #expect(try await browser.get("/verify").text.contains("name=\"code\""))
                let onFile = "somchai.test@example.co.th"
                #expect(try await eventually { try mailedCode(in: sink, to: onFile) != nil }, "\(daemon.output)")
                let code = try #require(try mailedCode(in: sink, to: onFile))
                let verified = try await browser.post("/verify", [("code", code)])
                #expect(verified.status == 303 && location(verified).hasPrefix("/s/"), "\(verified.text)")
                let statusPath = location(verified)

                let id = try await connection.query("SELECT id FROM dsr.requests")[0].decode("id", as: UUID.self)
                #expect(
                    try await eventually {
                        try await connection.isCompleted(id)
                    }, "\(daemon.output)")
                // The completion notice links the status page.
                #expect(try await eventually { try sink.messages().contains { plainText(of: $0).contains(portal.url + statusPath) } })
                let status = try await browser.get(statusPath)
                #expect(status.status == 200 && status.text.contains("id=\"download\""), "\(status.text)")
                let link = try await browser.post(statusPath + "/download", [])
                #expect(link.status == 303 && location(link).hasPrefix("/d/"))
                let zip = try await browser.get(location(link))
                #expect(zip.status == 200 && zip.header("Content-Type") == ["application/zip"])
                let file = exports.appendingPathComponent("downloaded.zip")
                try zip.body.write(to: file)
                let archive = try Archive(url: file, accessMode: .read)
                #expect(archive["manifest.json"] != nil || archive.contains { $0.path.hasSuffix("manifest.json") })
                #expect(try await browser.get(location(link)).status == 410)
                // An expired link is refused too (the person may download again here by the DPO's leave).
                try await connection.execute("SELECT dsr.allow_another_download($1, 'the first download broke off')", [id])
                let expiring = try await browser.post(statusPath + "/download", [])
                try await connection.execute("UPDATE dsr.download_links SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
                #expect(try await browser.get(location(expiring)).status == 410)
                try await connection.execute("UPDATE dsr.requests SET delivered_at = now() WHERE id = $1", [id])
                // Downloaded: recorded, shown, and no second link.
                #expect(try await connection.count("SELECT count(*) FROM dsr.request_status WHERE delivered_at IS NOT NULL") == 1)
                #expect(try await browser.get(statusPath).text.contains("id=\"delivered\""))
                #expect(location(try await browser.post(statusPath + "/download", [])) == statusPath)

                #expect(await daemon.stop() == 0)
                await portal.stop()
                try await sink.stop()
                for log in [portal.output, daemon.output] {
                    #expect(!log.contains("somchai") && !log.contains(code) && !log.contains(String(statusPath.dropFirst(3))))
                }
            }
        }
    }

    /// The correction form offers what the mappings let a person correct, whatever a company
    /// calls it (from `dsr.correctable_fields`, through the portal's one function), and the
    /// common fields until a daemon has published any.
    @Test func theCorrectionFormOffersTheFieldsTheStoresCanCorrect() async throws {
        try await TestDatabase.migrated { database, connection in
            let exports = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: exports) }
            let before = try await PortalHarness(database: database, exports: exports)
            let common = try await before.browser().get("/")
            #expect(common.text.contains(#"<option value="first_name">"#) && !common.text.contains("FullName"), "\(common.text)")
            await before.stop()
            try await connection.execute(
                "INSERT INTO dsr.correctable_fields (field, stores) VALUES ('FullName', '{shop}'), ('email', '{shop,mkt}')")
            let portal = try await PortalHarness(database: database, exports: exports)
            let form = try await portal.browser().get("/")
            #expect(form.text.contains(#"<option value="FullName">FullName</option>"#), "\(form.text)")
            #expect(form.text.contains(#"<option value="email">"#) && !form.text.contains(#"<option value="first_name">"#), "\(form.text)")
            await portal.stop()
        }
    }

    @Test func hostileInputGetsAClearErrorPageAndWritesNothing() async throws {
        try await TestDatabase.migrated(verification: true) { database, connection in
            let exports = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: exports) }
            let portal = try await PortalHarness(database: database, exports: exports)
            let browser = portal.browser()
            _ = try await browser.get("/")
            let noToken = try await browser.post("/requests", [("kind", "access"), ("email", "a@example.co.th")], csrf: false)
            #expect(noToken.status == 403 && noToken.text.contains("id=\"message\""))
            let wrongToken = try await browser.post(
                "/requests", [("csrf", String(repeating: "0", count: 64)), ("kind", "access")], csrf: false)
            #expect(wrongToken.status == 403)
            let huge = try await browser.post("/requests", body: Data(repeating: UInt8(ascii: "a"), count: 10 << 20))
            #expect(huge.status == 413 && huge.text.contains("id=\"message\""))
            for body in [
                "kind=access&email=a%ff%40example.co.th",  // invalid UTF-8
                "kind=access&email=a%E2%80%AEmoc.elpmaxe%40b.co",  // a right-to-left override
                "kind=access&name=%E2%81%A6x",  // an isolate in the name
                "kind=access&email=a%40example.co.th%0D%0ABcc%3A%20x%40evil.example",  // header injection
                "kind=access&email=a%40example.co.th&name=a%00b",  // NUL
                "kind=access&email=%zz",  // broken percent-encoding
            ] {
                let response = try await browser.post("/requests", body: Data("csrf=\(browser.csrf)&\(body)".utf8))
                #expect(response.status == 400 && response.text.contains("โปรดพิมพ์เป็นข้อความธรรมดา"), "\(body)")
            }
            for fields in [
                [("kind", "access"), ("email", "x'); DROP TABLE dsr.requests; --@example.co.th")],
                [("kind", "erasure"), ("national_id", "1' OR '1'='1")],
                [("kind", "shred"), ("email", "a@example.co.th")],
                [("kind", "access")],
            ] {
                let response = try await browser.post("/requests", fields)
                #expect(response.status == 400 && response.text.contains("role=\"alert\""), "\(fields)")
            }
            #expect(try await connection.count("SELECT count(*) FROM dsr.requests") == 0)
            #expect(try await browser.get("/s/" + String(repeating: "a", count: 64)).status == 404)
            #expect(try await browser.get("/d/" + String(repeating: "a", count: 64)).status == 410)
            let headers = try await browser.get("/")
            #expect(headers.header("Content-Security-Policy").first?.contains("default-src 'none'") == true)
            #expect(headers.header("X-Frame-Options") == ["DENY"] && headers.header("Referrer-Policy") == ["no-referrer"])
            #expect(headers.header("Set-Cookie").allSatisfy { $0.contains("HttpOnly") && $0.contains("SameSite=Strict") })
            await portal.stop()
        }
    }

    /// Whether or not the stores know the person, the portal answers the same: the same
    /// redirect, the same code page, the same reply to a wrong code; after five tries both
    /// are locked alike.
    @Test func theAnswerIsTheSameWhetherOrNotThePersonExists() async throws {
        try await TestDatabase.migrated(verification: true) { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let portal = try await PortalHarness(database: database, exports: exports)
                let daemon = try BackgroundDaemon(
                    database.exportArguments(exports, extra: portal.daemonSettings), environment: stores.environment)
                var pages: [[String]] = []
                for email in ["somchai.test@example.co.th", "nobody.here@example.co.th"] {
                    let browser = portal.browser(address: "127.0.0.\(pages.count + 2)")
                    _ = try await browser.get("/")
                    let submitted = try await browser.post("/requests", [("kind", "access"), ("email", email)])
                    #expect(
                        try await eventually {
                            try await connection.count(
                                "SELECT count(*) FROM dsr.requests WHERE subject_email = $1 AND status = 'awaiting_verification'", [email])
                                == 1
                        }, "\(daemon.output)")
                    var seen = ["\(submitted.status) \(location(submitted))", try await browser.get("/verify").text]
                    for _ in 1...6 {
                        let reply = try await browser.post("/verify", [("code", "000000")])
                        seen.append("\(reply.status) \(reply.text)")
                    }
                    pages.append(seen.map { $0.replacingOccurrences(of: browser.csrf, with: "CSRF") })
                }
                #expect(pages[0] == pages[1])
                // The operator can tell them apart; the unknown address got nothing but the acknowledgement.
                let found = try await connection.query(
                    """
                    SELECT e.detail ->> 'person_found' AS found FROM dsr.request_events e JOIN dsr.requests r ON r.id = e.request_id
                     WHERE e.step = 'verification_started' ORDER BY r.subject_email DESC
                    """
                ).map { try $0.decode("found", as: String.self) }
                #expect(found == ["true", "false"])
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.outbox o JOIN dsr.requests r ON r.id = o.request_id WHERE r.subject_email = 'nobody.here@example.co.th' AND o.audience = 'subject' AND o.template <> 'received'"
                    ) == 0)
                #expect(pages[0].last?.hasPrefix("429") == true)
                #expect(await daemon.stop() == 0)
                await portal.stop()
            }
        }
    }

    @Test func submissionsAreRateLimitedPerAddressAcrossPortalProcesses() async throws {
        try await TestDatabase.migrated(verification: true) { database, connection in
            let exports = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: exports) }
            let limit = ["portal.submissions_per_address=3"]
            let first = try await PortalHarness(database: database, exports: exports, settings: limit)
            let second = try await PortalHarness(database: database, exports: exports, settings: limit)
            var statuses: [Int] = []
            for index in 0..<4 {
                let browser = (index.isMultiple(of: 2) ? first : second).browser(address: "192.0.2.7")
                _ = try await browser.get("/")
                statuses.append(try await browser.post("/requests", [("kind", "access"), ("email", "p\(index)@example.co.th")]).status)
            }
            #expect(statuses == [303, 303, 303, 429])
            #expect(try await connection.count("SELECT count(*) FROM dsr.requests") == 3)
            await first.stop()
            await second.stop()
        }
    }
}
