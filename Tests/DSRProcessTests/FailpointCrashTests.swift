import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// A `dsrd run` process dies at a failpoint (`DSRD_FAILPOINT`: SIGKILL at a chosen step),
/// then a clean in-process run finishes the work: nothing is lost, doubled or different.
@Suite("SIGKILL at a failpoint, then a clean run")
struct FailpointCrashTests {
    /// The payload without what necessarily differs between two requests.
    func comparable(_ proof: Data) throws -> String {
        let file = try JSONSerialization.jsonObject(with: proof) as? [String: Any] ?? [:]
        var payload = try JSONSerialization.jsonObject(with: Data((file["payload"] as? String ?? "").utf8)) as? [String: Any] ?? [:]
        payload["request_id"] = nil
        payload["received_at"] = nil
        payload["stores"] = (payload["stores"] as? [[String: Any]])?.map { store -> [String: Any] in
            var copy = store
            copy["erased_at"] = nil
            return copy
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test func erasureKilledBetweenStoresResumesToTheSameStateAndProof() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        var outcomes: [(proof: String, state: [String: StoreSnapshot])] = []
        for interrupted in [false, true] {
            let outcome = try await TestDatabase.migrated { database, connection in
                try await StoreFixture.with { stores in
                    _ = try await stores.addOldAndDisputedOrders()
                    let exports = try temporaryDirectory()
                    defer { try? FileManager.default.removeItem(at: exports) }
                    let id = try await connection.query(
                        "SELECT dsr.submit('erasure', '{\"email\": \"somchai.test@example.co.th\"}') AS id")[0].decode("id", as: UUID.self)
                    if interrupted {
                        let crashing = try DaemonProcess(
                            database.erasureArguments(exports, key: keys.privateKey, extra: ["--set", "queue.workers=1"]),
                            environment: stores.environment.merging(["DSRD_FAILPOINT": "erase.after_store_commit"]) { $1 })
                        #expect(try await crashing.waitForExit(timeout: .seconds(60)) != nil)
                        #expect(crashing.process.terminationReason == .uncaughtSignal)
                        // One store is erased, its task not recorded; nothing is complete yet.
                        #expect(try await connection.count("SELECT count(*) FROM dsr.request_tasks WHERE state = 'done'") == 0)
                        #expect(try await connection.count("SELECT count(*) FROM dsr.request_tasks WHERE plan IS NOT NULL") >= 1)
                    }
                    let run = try await runInProcessUntilCompleted(
                        id, database.erasureArguments(exports, key: keys.privateKey), environment: stores.environment, on: connection)
                    #expect(run.completed, "\(run.output)")
                    var state: [String: StoreSnapshot] = [:]
                    for (store, tables) in [
                        ("customer", ["customers", "identity_documents", "activity_log"]), ("order", StoreFixture.orderTables),
                        ("marketing", ["subscriptions", "consents", "campaign_events", "ad_audiences"]),
                    ] {
                        state[store] = try await StoreSnapshot.take(try await PostgresConnection.connect(stores.url(store)), tables: tables)
                    }
                    let proof = try await connection.query("SELECT proof FROM dsr.proofs WHERE request_id = $1", [id])[0].decode(
                        "proof", as: String.self)
                    return try (proof: comparable(Data(proof.utf8)), state: state)
                }
            }
            outcomes.append(outcome)
        }
        #expect(outcomes[0].state == outcomes[1].state)
        #expect(outcomes[0].proof == outcomes[1].proof)
        #expect(outcomes[0].proof.contains("Accounting Act"))
    }

    @Test(arguments: [true, false])
    func crashBetweenSendAndCommitNeverProducesTwoDifferentMessages(resendInDoubt: Bool) async throws {
        try await TestDatabase.migrated { database, connection in
            let sink = try await ScriptedServer.smtpSink()
            _ = try await connection.query("SELECT dsr.submit('erasure', '{\"email\": \"somchai@example.co.th\"}')")
            try await connection.cancelRequestJobs()
            let settings = ["--set", "notices.resend_in_doubt=\(resendInDoubt)", "--set", "notices.dpo_email="]
            let crashing = try DaemonProcess(
                database.noticeArguments(smtpPort: sink.port, extra: settings),
                environment: ["DSRD_FAILPOINT": "notice.after_send"])
            #expect(try await crashing.waitForExit(timeout: .seconds(60)) != nil)
            #expect(crashing.process.terminationReason == .uncaughtSignal)
            #expect(try sink.messages().count == 1)
            #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE state = 'sending'") == 1)

            let survivor = try BackgroundDaemon(database.noticeArguments(smtpPort: sink.port, extra: settings))
            let finalState = resendInDoubt ? "sent" : "in_doubt"
            #expect(
                try await eventually {
                    try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'received' AND state = $1", [finalState])
                        == 1
                }, "\(survivor.output)")
            #expect(await survivor.stop() == 0)

            let received = try sink.messages()
            let ids = Set(received.compactMap { header("Message-ID", in: $0) })
            #expect(ids.count == 1)
            #expect(Set(received.map { plainText(of: $0) }).count == 1)
            #expect(Set(received.compactMap { header("Subject", in: $0) }).count == 1)
            if resendInDoubt {
                #expect(received.count == 2)
            } else {
                #expect(received.count == 1)
                #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'dpo_delivery_failed'") == 1)
            }
        }
    }
}
