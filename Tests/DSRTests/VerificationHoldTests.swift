import DSR
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// A request that may not be about the person who asked is held until an operator has
/// verified the identity; the hold really stops work, and `dsr.resume_request` resumes it.
@Suite("Identity verification holds")
struct VerificationHoldTests {
    func status(_ connection: PostgresConnection, _ id: UUID) async throws -> (status: String, hold: String?) {
        let row = try await connection.query("SELECT status, hold_reason FROM dsr.requests WHERE id = $1", [id])[0]
        return (try row.decode("status", as: String.self), try row.decode("hold_reason", as: String?.self))
    }

    /// `dsr.ask_identity_verification` right after a submission: the export never runs and
    /// the person is never told it is ready; another request submitted after it completes,
    /// so the daemon did run meanwhile. Resuming completes it.
    @Test func aHoldPlacedAfterSubmissionStopsTheRequestUntilItIsResumed() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let held = try await connection.query(
                    "SELECT dsr.submit('access', '{\"customer_id\": \"T-1\", \"email\": \"somchai.test@example.co.th\"}') AS id"
                )[0].decode("id", as: UUID.self)
                try await connection.execute("SELECT dsr.ask_identity_verification($1, 'please bring your ID card')", [held])
                let other = try await connection.query(
                    "SELECT dsr.submit('access', '{\"customer_id\": \"T-2\"}') AS id")[0].decode("id", as: UUID.self)
                let daemon = try BackgroundDaemon(database.exportArguments(exports), environment: stores.environment)
                #expect(
                    try await eventually {
                        try await connection.isCompleted(other)
                    }, "\(daemon.output)")
                #expect(try await status(connection, held) == ("awaiting_verification", "operator"))
                #expect(try await connection.count("SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1", [held]) == 0)
                #expect(
                    try await connection.count("SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'completed'", [held])
                        == 0)
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'identity_needed'", [held]) == 1)
                // Retrying its cancelled job is not the way out; resuming is.
                do {
                    try await connection.execute("SELECT dsr.resume_request($1, NULL, 'ID card checked')", [other])
                    Issue.record("a completed request was resumed")
                } catch let error as PostgresError { #expect(error.sqlState == "55000") }
                try await connection.execute("SELECT dsr.resume_request($1, NULL, 'ID card checked at the counter')", [held])
                #expect(
                    try await eventually {
                        try await connection.isCompleted(held)
                    }, "\(daemon.output)")
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.requests WHERE id = $1 AND verified_at IS NOT NULL AND verified_by = current_user", [held]
                    ) == 1)
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// A phone shared by T-1 and T-2, given with an email that matches nobody: the phone is
    /// all that matched, so the request waits like a phone-only one, and the DPO hears why.
    /// Resuming needs the verified person's identifier and exports only that person.
    @Test func aSharedPhoneWithAnEmailThatMatchesNobodyWaitsForVerification() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let id = try await connection.query(
                    "SELECT dsr.submit('access', '{\"email\": \"nobody.known@example.co.th\", \"phone\": \"081-234-5678\"}') AS id"
                )[0].decode("id", as: UUID.self)
                let daemon = try BackgroundDaemon(database.exportArguments(exports), environment: stores.environment)
                #expect(try await eventually { try await status(connection, id).status == "awaiting_verification" }, "\(daemon.output)")
                #expect(try await status(connection, id).hold == "shared_phone")
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'dpo_identity_hold'", [id]) == 1)
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'identity_needed' AND variables->>'several_accounts' = 'true'",
                        [id]) == 1)
                do {
                    try await connection.execute("SELECT dsr.resume_request($1)", [id])
                    Issue.record("a shared-phone hold was resumed without saying who asked")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "22023" && error.hint?.contains("customer_id") == true)
                }
                try await connection.execute(
                    "SELECT dsr.resume_request($1, '{\"customer_id\": \"T-1\"}', 'called back on the number on file')", [id])
                #expect(
                    try await eventually {
                        try await connection.isCompleted(id)
                    }, "\(daemon.output)")
                let bundle = try OpenedBundle(path: try await completedResult(connection, id)["export_path"] as? String ?? "")
                #expect(try bundle.rows("customer/customers.json").map { $0["id"] as? String } == ["T-1"])
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// Two customers whose emails differ only by case, with different names and national ids:
    /// matching the email case-insensitively is right, merging them silently is not. The
    /// request waits, the DPO is told which details disagree (column names, no values),
    /// corrects the record that holds the wrong address, and resumes: only the person who
    /// asked is exported.
    @Test func recordsJoinedByAnEmailThatDisagreeOnPersonalDetailsWaitForVerification() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let customer = try await PostgresConnection.connect(stores.url("customer"))
                try await customer.execute(
                    """
                    INSERT INTO customers (id, first_name, last_name, nationality, national_id, passport_no, email, login_provider)
                    VALUES ('T-3', 'Anan', 'Twin', 'TH', '1101700207048', NULL, 'twin@example.co.th', 'password'),
                           ('T-4', 'John', 'Other', 'GB', NULL, 'GB1234567', 'TWIN@Example.co.th', 'google')
                    """)
                await customer.close()
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let id = try await connection.query(
                    "SELECT dsr.submit('access', '{\"email\": \"twin@example.co.th\"}') AS id")[0].decode("id", as: UUID.self)
                let daemon = try BackgroundDaemon(database.exportArguments(exports), environment: stores.environment)
                #expect(try await eventually { try await status(connection, id).status == "awaiting_verification" }, "\(daemon.output)")
                #expect(try await status(connection, id).hold == "conflicting_records")
                let conflicts = try await connection.query(
                    "SELECT variables->>'conflicts' AS c FROM dsr.outbox WHERE request_id = $1 AND template = 'dpo_identity_hold'", [id]
                )[0].decode("c", as: String.self)
                #expect(conflicts.contains("customers.first_name") && conflicts.contains("customers.nationality"), "\(conflicts)")
                #expect(!conflicts.contains("Anan") && !conflicts.contains("John"))
                let store = try await PostgresConnection.connect(stores.url("customer"))
                try await store.execute("UPDATE customers SET email = 'john.other@example.co.uk' WHERE id = 'T-4'")
                await store.close()
                try await connection.execute("SELECT dsr.resume_request($1, NULL, 'T-4 had a mistyped email; corrected')", [id])
                #expect(
                    try await eventually {
                        try await connection.isCompleted(id)
                    }, "\(daemon.output)")
                let bundle = try OpenedBundle(path: try await completedResult(connection, id)["export_path"] as? String ?? "")
                #expect(try bundle.rows("customer/customers.json").map { $0["id"] as? String } == ["T-3"])
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// A father and son share an email; the phone given is the son's alone. The son's record
    /// joins the father's through the email: held as conflicting records (it used to be called
    /// a shared phone). Resumed naming the son's customer id, the email still joins the
    /// father's record: held again, the DPO told so, and nothing planned or exported (it used
    /// to export and erase both as the son's).
    @Test func identifiersNamedOnResumingThatStillJoinAnotherPersonHoldTheRequestAgain() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let customer = try await PostgresConnection.connect(stores.url("customer"))
                try await customer.execute(
                    """
                    INSERT INTO customers (id, first_name, last_name, email, phone, login_provider)
                    VALUES ('T-5', 'Dad', 'Family', 'family@example.co.th', '0867770001', 'password'),
                           ('T-6', 'Son', 'Family', 'family@example.co.th', '0867770002', 'password')
                    """)
                await customer.close()
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let id = try await connection.query(
                    "SELECT dsr.submit('access', '{\"phone\": \"086-777-0002\"}') AS id")[0].decode("id", as: UUID.self)
                let daemon = try BackgroundDaemon(database.exportArguments(exports), environment: stores.environment)
                #expect(try await eventually { try await status(connection, id).status == "awaiting_verification" }, "\(daemon.output)")
                #expect(try await status(connection, id).hold == "conflicting_records")
                try await connection.execute("SELECT dsr.resume_request($1, '{\"customer_id\": \"T-6\"}', 'called the son back')", [id])
                let notices = "SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'dpo_identity_hold'"
                #expect(try await eventually { try await connection.count(notices, [id]) == 2 }, "\(daemon.output)")
                #expect(try await status(connection, id) == ("awaiting_verification", "conflicting_records"))
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'dpo_identity_hold' AND variables->>'still_joined' = 'true'",
                        [id]) == 1)
                #expect(try await connection.count("SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1", [id]) == 0)
                #expect(await daemon.stop() == 0)
            }
        }
    }
}
