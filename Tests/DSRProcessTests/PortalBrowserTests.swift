import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// The portal in a real browser (Debian's chromium, driven by `Tests/Browser/portal_flow.py`
/// through chromium-driver and python3-selenium), in Thai, end to end with the daemon: an
/// access request answered and downloaded once, and an erasure ending in a proof that
/// `dsrd verify-proof` calls VALID. The screenshots land in `.build/portal-screenshots`
/// (README's picture comes from there).
@Suite("Portal in a browser", .serialized)
struct PortalBrowserTests {
    static let screenshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/portal-screenshots")
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Browser/portal_flow.py").path

    struct Flow {
        let status: Int32
        let output: [String: Any]
        let raw: String
    }

    /// Runs the browser script to its end.
    func drive(_ arguments: [String]) async throws -> Flow {
        try FileManager.default.createDirectory(at: Self.screenshots, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [Self.script, "--screenshots", Self.screenshots.path] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = try await Task.detached { try output.fileHandleForReading.readToEnd() ?? Data() }.value
        process.waitUntilExit()
        let raw = String(decoding: data, as: UTF8.self)
        let line = raw.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init) ?? "{}"
        let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
        return Flow(status: process.terminationStatus, output: object, raw: raw)
    }

    @Test(arguments: ["access", "erasure"])
    func aPersonUsesThePortalInThaiFromRequestToAnswer(kind: String) async throws {
        try await TestDatabase.migrated(verification: true) { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let sink = try await ScriptedServer.smtpSink()
                let keys = try makeKeys()
                let exports = try temporaryDirectory()
                let downloads = try temporaryDirectory()
                defer {
                    for directory in [exports, downloads, keys.directory] { try? FileManager.default.removeItem(at: directory) }
                }
                let portal = try await PortalHarness(database: database, exports: exports)
                let notices = [
                    "--set", "email.smtp_url=smtp://127.0.0.1:\(sink.port)", "--set", "email.require_tls=false",
                    "--set", "email.from_address=privacy@smarttec.example", "--set", "notices.dpo_email=dpo@smarttec.example",
                ]
                let daemon = try BackgroundDaemon(
                    database.erasureArguments(exports, key: keys.privateKey, extra: notices + portal.daemonSettings),
                    environment: stores.environment)
                let flow = try await drive([
                    "--url", portal.url, "--kind", kind, "--identifier", "customer_id=T-1", "--on-file", "somchai.test@example.co.th",
                    "--mail-dir", sink.directory.appendingPathComponent("mail").path, "--downloads", downloads.path,
                ])
                #expect(flow.status == 0, "\(flow.raw)\n\(daemon.output)\n\(portal.output)")
                #expect(flow.output["status"] as? String == "ดำเนินการเสร็จแล้ว", "\(flow.raw)")
                let id = try await connection.query("SELECT id FROM dsr.requests WHERE kind = $1", [kind])[0].decode("id", as: UUID.self)
                if kind == "access" {
                    #expect((flow.output["manifest_entries"] as? Int ?? 0) > 3, "\(flow.raw)")
                    #expect((flow.output["second_download"] as? String ?? "").contains("ลิงก์ดาวน์โหลดนี้ถูกใช้แล้ว"), "\(flow.raw)")
                    #expect((flow.output["delivered"] as? String ?? "").contains("ท่านดาวน์โหลดไฟล์แล้วเมื่อ"), "\(flow.raw)")
                    #expect(
                        try await connection.count("SELECT count(*) FROM dsr.requests WHERE id = $1 AND delivered_at IS NOT NULL", [id])
                            == 1)
                } else {
                    let proof = try await completedResult(connection, id)["proof_path"] as? String ?? ""
                    let verified = try await DaemonProcess.run(["verify-proof", proof, "--public-key", keys.publicKey])
                    #expect(verified.status == 0 && verified.output.contains("VALID"), "\(verified.output)")
                    let customer = try await PostgresConnection.connect(stores.url("customer"))
                    #expect(try await customer.count("SELECT count(*) FROM customers WHERE id = 'T-1' AND email IS NOT NULL") == 0)
                    await customer.close()
                }
                #expect(await daemon.stop() == 0)
                await portal.stop()
                try await sink.stop()
            }
        }
    }
}
