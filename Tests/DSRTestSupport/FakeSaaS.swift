import Foundation
import TestSupport

/// `Tests/Servers/fake_saas.py`: a marketing SaaS that implements the HTTP store contract
/// (rows really stored and deleted) and a processor receiving webhooks, with its own signing
/// secret; plus a connectors folder holding the three demo mappings, this SaaS as an `http`
/// store with a processor, and a paper archive as a `manual` store.
public final class FakeSaaS: @unchecked Sendable {
    public let server: ScriptedServer
    public let secretFile: URL
    /// Connectors folder: the demo stores' mappings and the ones `mappings` adds.
    public let connectors: URL

    /// The person the tests ask about (T-1 of the store fixture) has one contact and two
    /// events; someone else has one of each.
    public static let seed = """
        {"contacts": [{"id": 1, "email": "somchai.test@example.co.th", "phone": null, "name": "Somchai", "subscribed": true},
                      {"id": 2, "email": "other@example.com", "phone": "+66899999999", "name": "Other", "subscribed": true}],
         "events": [{"contact_id": 1, "event": "open"}, {"contact_id": 1, "event": "click"}, {"contact_id": 2, "event": "open"}]}
        """

    /// `asyncPolls` > 0: erasures answer 202 and finish on that poll of their status URL.
    public init(asyncPolls: Int = 0, manualStore: Bool = true) async throws {
        let scratch = try temporaryDirectory()
        secretFile = scratch.appendingPathComponent("saas.secret")
        try Data("test-signing-secret-\(UUID().uuidString)".utf8).write(to: secretFile)
        let seedFile = scratch.appendingPathComponent("seed.json")
        try Data(Self.seed.utf8).write(to: seedFile)
        let secret = secretFile.path
        server = try await ScriptedServer(script: "fake_saas.py") { directory in
            [
                "--dir", directory.path, "--secret-file", secret, "--seed", seedFile.path, "--async-polls", "\(asyncPolls)",
            ]
        }
        connectors = scratch.appendingPathComponent("connectors")
        try FileManager.default.createDirectory(at: connectors, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: StoreFixture.connectorsDirectory) where file.hasSuffix(".toml") {
            try FileManager.default.copyItem(
                atPath: StoreFixture.connectorsDirectory + "/" + file, toPath: connectors.appendingPathComponent(file).path)
        }
        try Data(httpMapping.utf8).write(to: connectors.appendingPathComponent("mailing_saas.toml"))
        if manualStore { try Data(Self.manualMapping.utf8).write(to: connectors.appendingPathComponent("paper_archive.toml")) }
    }

    public var httpMapping: String {
        """
        name = "mailing_saas"
        type = "http"
        url = "\(server.url)"
        signing_secret_file = "\(secretFile.path)"
        sources = ["website"]

        [[tables]]
        name = "contacts"
        identity = { email = "email", phone = "phone" }
        purposes = ["marketing"]
        recipients = ["marketing_provider"]
        on_objection = "delete"
        [tables.categories]
        email = "contact"
        name = "personal"

        [[tables]]
        name = "events"
        identity = { email = "email" }
        purposes = ["marketing"]
        on_objection = "delete"

        [[processors]]
        name = "mail_provider"
        url = "\(server.url)/hooks/mail_provider"
        secret_file = "\(secretFile.path)"
        """
    }

    public static let manualMapping = """
        name = "paper_archive"
        type = "manual"
        owner = "archive@smarttec.example"
        owner_language = "th"
        instructions = { th = "ใบสมัครสมาชิกอยู่ในตู้ 3 ห้องเอกสาร เรียงตามนามสกุล", en = "Membership forms are in cabinet 3 of the records room, by last name" }
        remind_every_days = 3
        escalate_after_days = 7
        sources = ["signup"]

        [[tables]]
        name = "membership_forms"
        purposes = ["account_management"]
        retention = { th = "10 ปีหลังสิ้นสุดสมาชิกภาพ", en = "10 years after membership ends" }
        [tables.categories]
        name = "personal"
        signature = "identity_proof"
        """

    public struct Call: Decodable, Sendable {
        public let method: String
        public let path: String
        public let idempotencyKey: String?
        public let eventID: String?

        enum CodingKeys: String, CodingKey {
            case method, path
            case idempotencyKey = "idempotency_key"
            case eventID = "event_id"
        }
    }

    /// Every HTTP call the SaaS received, signed or not.
    public func calls() throws -> [Call] { try lines("calls.jsonl") }

    /// Erasures and changes it carried out (one line each: key and operation).
    public func effects() throws -> [[String: Any]] { try objects("effects.jsonl") }

    /// Webhook events it stored (once per event id).
    public func events() throws -> [[String: Any]] { try objects("events.jsonl") }

    /// The rows it holds now.
    public func tables() throws -> [String: [[String: Any]]] {
        let data = try Data(contentsOf: server.directory.appendingPathComponent("state.json"))
        let state = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        return state["tables"] as? [String: [[String: Any]]] ?? [:]
    }

    func text(_ file: String) -> [Substring] {
        ((try? String(contentsOf: server.directory.appendingPathComponent(file), encoding: .utf8)) ?? "").split(separator: "\n")
    }

    func lines<T: Decodable>(_ file: String) throws -> [T] {
        try text(file).map { try JSONDecoder().decode(T.self, from: Data($0.utf8)) }
    }

    func objects(_ file: String) throws -> [[String: Any]] {
        try text(file).map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
    }

    deinit {
        try? FileManager.default.removeItem(at: connectors.deletingLastPathComponent())
    }
}
