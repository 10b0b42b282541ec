import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@testable import DSR

/// The register of processing activities (PDPA s.39): `lawful_basis` and `transfers` in the
/// mappings, `dsrd ropa` (CSV and HTML, every kind of store) and `dsr.register`.
@Suite("Register of processing activities")
struct RegisterTests {
    static let shippedTables: Set<String> = [
        "customer.customers", "customer.identity_documents", "customer.activity_log", "order.orders", "order.order_items",
        "order.payments", "order.invoices", "order.shipments", "marketing.subscriptions", "marketing.consents",
        "marketing.campaign_events", "marketing.ad_audiences",
    ]

    @Test(arguments: ["th", "en"])
    func ropaListsEveryTableOfTheShippedMappingsAsCSV(lang: String) async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("ropa.csv")
        let run = try await DaemonProcess.run(["ropa", "--config", exampleConfigFile, "--lang", lang, "--output", file.path])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.isEmpty, "every shipped table states every column: \(run.output)")
        let bytes = try Data(contentsOf: file)
        #expect(bytes.starts(with: [0xEF, 0xBB, 0xBF]), "a UTF-8 byte order mark for spreadsheets")
        let records = try CSVReader.records(String(decoding: bytes.dropFirst(3), as: UTF8.self))
        #expect(records.count == 13)
        #expect(records.allSatisfy { $0.count == 10 })
        #expect(Set(records.dropFirst().map { "\($0[0]).\($0[2])" }) == Self.shippedTables)
        let notStated = lang == "en" ? "not stated" : "ยังไม่ได้ระบุ"
        #expect(records.dropFirst().allSatisfy { !$0.contains(notStated) })
        let audiences = try #require(records.first { $0[2] == "ad_audiences" })
        if lang == "en" {
            #expect(records[0][8] == "Lawful basis")
            #expect(audiences[8] == "the person's consent (s.19)")
            #expect(audiences[6].hasPrefix("United States (US): marketing service providers (Google, Facebook); safeguard: "))
            #expect(records.first { $0[2] == "invoices" }?[8] == "necessary to comply with the law (s.24(6))")
            #expect(records.first { $0[2] == "customers" }?[6] == "none")
        } else {
            #expect(records[0][8] == "ฐานทางกฎหมาย")
            #expect(audiences[8] == "ความยินยอมของเจ้าของข้อมูล (มาตรา 19)")
            #expect(audiences[6].hasPrefix("สหรัฐอเมริกา (US): "))
        }
    }

    @Test(arguments: ["th", "en"])
    func ropaWritesOneSelfContainedUTF8PageListingEveryTable(lang: String) async throws {
        let run = try await DaemonProcess.run(
            ["ropa", "--config", exampleConfigFile, "--format", "html", "--lang", lang] + SeedCompany.arguments)
        #expect(run.status == 0, "\(run.output)")
        let html = run.output
        #expect(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"\(lang)\">\n<head>\n<meta charset=\"utf-8\">"))
        for table in Self.shippedTables { #expect(html.contains("<td>\(table.split(separator: ".")[1])</td>"), "\(table)") }
        #expect(html.contains("<style>"))
        #expect(!html.contains("<script") && !html.contains("<link") && !html.contains("src="))
        #expect(html.contains(lang == "en" ? "SmartTec Enterprise Co., Ltd." : "บริษัท สมาร์ทเทค เอ็นเตอร์ไพรส์ จำกัด"))
        #expect(html.contains(lang == "en" ? "Record of processing activities" : "บันทึกรายการกิจกรรมการประมวลผลข้อมูลส่วนบุคคล"))
        #expect(!html.contains("class=\"missing\""))
    }

    /// A manual store's tables have no identity, an HTTP store's no database: both are in the
    /// register like the SQL stores, and a table that states no lawful basis is reported.
    @Test func everyKindOfStoreIsInTheRegisterAndGapsAreReported() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let root = URL(fileURLWithPath: exampleConfigFile).deletingLastPathComponent().deletingLastPathComponent()
        for folder in ["Config/connectors", "Deploy/demo-connectors"] {
            let source = root.appendingPathComponent(folder)
            for file in try FileManager.default.contentsOfDirectory(atPath: source.path) where file.hasSuffix(".toml") {
                try FileManager.default.copyItem(at: source.appendingPathComponent(file), to: directory.appendingPathComponent(file))
            }
        }
        let register = ProcessingRegister(stores: try ConnectorCatalog.load(directory: directory.path, environment: [:]))
        #expect(register.entries.count == 15)
        let forms = try #require(register.entries.first { $0.table == "membership_forms" })
        #expect(forms.storeKind == .manual)
        #expect(forms.text(.storeType, locale: "en") == "paper or kept by hand")
        #expect(forms.text(.dataCategories, locale: "en").contains("copies of identity documents"))
        #expect(register.entries.first { $0.table == "contacts" }?.storeKind == .http)
        #expect(register.entries.allSatisfy { $0.missing.isEmpty })

        try """
        name = "shoebox"
        type = "manual"
        owner = "dpo@example.co.th"
        instructions = { th = "กล่องใต้โต๊ะ" }
        [[tables]]
        name = "receipts"
        purposes = ["payment"]
        """.write(to: directory.appendingPathComponent("shoebox.toml"), atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("ropa.csv")
        let strict = try await DaemonProcess.run([
            "ropa", "--config", exampleConfigFile, "--set", "connectors.directory=\(directory.path)", "--lang", "en",
            "--output", file.path, "--strict",
        ])
        #expect(strict.status == 1)
        #expect(strict.output == "dsrd ropa: shoebox.receipts: not stated: data_categories, recipients, retention, lawful_basis, sources\n")
        let records = try CSVReader.records(String(decoding: try Data(contentsOf: file).dropFirst(3), as: UTF8.self))
        #expect(records.count == 17)
        #expect(
            records.last == [
                "shoebox", "paper or kept by hand", "receipts", "not stated", "taking payment", "not stated", "none", "not stated",
                "not stated", "not stated",
            ])
    }

    @Test(arguments: [
        ("lawful_basis = [\"because\"]", "lawful_basis: unknown code because"),
        ("lawful_basis = [\"consent\", \"consent\"]", "lawful_basis names a code twice"),
        ("lawful_basis = \"consent\"", "tables[1].lawful_basis: expected an array"),
        ("transfers = [\"SG\"]", "transfers[1]: expected a table"),
        ("transfers = [{ country = \"SG\", recipient = \"internal\" }]", "safeguard is required"),
        (
            "transfers = [{ country = \"SGP\", recipient = \"internal\", safeguard = \"adequacy\" }]",
            "SGP is not an ISO 3166-1 country code"
        ),
        ("transfers = [{ country = \"sg\", recipient = \"internal\", safeguard = \"adequacy\" }]", "sg is not an ISO 3166-1 country code"),
        ("transfers = [{ country = \"XX\", recipient = \"internal\", safeguard = \"adequacy\" }]", "XX is not an ISO 3166-1 country code"),
        ("transfers = [{ country = \"TH\", recipient = \"internal\", safeguard = \"adequacy\" }]", "TH is not abroad"),
        (
            "transfers = [{ country = \"SG\", recipient = \"logistics\", safeguard = \"adequacy\" }]",
            "logistics is not one of the table's recipients"
        ),
        ("transfers = [{ country = \"SG\", recipient = \"internal\", safeguard = \"trust_us\" }]", "safeguard: unknown code trust_us"),
        (
            "transfers = [{ country = \"SG\", recipient = \"internal\", safeguard = \"adequacy\", note = \"x\" }]",
            "unknown key tables[1].transfers[1].note"
        ),
        (
            "transfers = [{ country = \"SG\", recipient = \"internal\", safeguard = \"adequacy\" }, { country = \"SG\", recipient = \"internal\", safeguard = \"informed_consent\" }]",
            "transfers[2]: internal in SG is listed twice"
        ),
    ])
    func mappingsRefuseUnknownLawfulBasesAndMalformedTransfers(line: String, message: String) {
        let toml = "name = \"x\"\n[[tables]]\nname = \"t\"\nidentity = { email = \"e\" }\nrecipients = [\"internal\"]\n\(line)\n"
        do {
            _ = try ConnectorCatalog.parse(toml, source: "bad.toml")
            Issue.record("accepted \(line)")
        } catch let error as ConfigurationError {
            #expect(error.description.hasPrefix("bad.toml: ") && error.description.contains(message), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func labelledCodesOfTheMappingsOwnAreAccepted() throws {
        let mapping = try ConnectorCatalog.parse(
            """
            name = "x"
            [labels]
            franchise_rules = { th = "กฎของแฟรนไชส์", en = "the franchise's rules" }
            group_policy = { en = "the group's data policy" }
            [[tables]]
            name = "t"
            identity = { email = "e" }
            recipients = ["internal"]
            lawful_basis = ["contract", "franchise_rules"]
            transfers = [{ country = "JP", recipient = "internal", safeguard = "group_policy" }]
            """, source: "x.toml")
        let entry = try #require(ProcessingRegister(stores: [mapping]).entries.first)
        #expect(entry.lawfulBasis == ["contract", "franchise_rules"])
        #expect(entry.text(.lawfulBasis, locale: "th") == "จำเป็นเพื่อปฏิบัติตามสัญญากับเจ้าของข้อมูล (มาตรา 24(3)); กฎของแฟรนไชส์")
        #expect(
            entry.text(.transfers, locale: "en")
                == "Japan (JP): departments of the company that need it; safeguard: the group's data policy")
        #expect(mapping.tables[0].transfers == [.init(country: "JP", recipient: "internal", safeguard: "group_policy")])
    }

    /// `dsrd run` publishes the register at start; rows of tables no longer mapped go, rows that
    /// did not change are not rewritten.
    @Test func theDaemonPublishesTheRegisterToTheDatabaseAtStart() async throws {
        try await TestDatabase.migrated { database, connection in
            try await InProcessDaemon.run(database: database) { _ in }
            let rows = try await connection.query("SELECT store, table_name, lawful_basis, cross_border_transfers FROM dsr.register")
            let names = try rows.map { "\(try $0.decode("store", as: String.self)).\(try $0.decode("table_name", as: String.self))" }
            #expect(Set(names) == Self.shippedTables)
            #expect(rows.count == 12)
            let invoices = try #require(try rows.first { try $0.decode("table_name", as: String.self) == "invoices" })
            #expect(try invoices.decode("lawful_basis", as: String.self) == "จำเป็นเพื่อปฏิบัติตามกฎหมาย (มาตรา 24(6))")
            #expect(try invoices.decode("cross_border_transfers", as: String.self) == "ไม่มี")
            // The same rows as `dsrd ropa`, in English once the session asks for it.
            let english = try await database.connect()
            try await english.execute("SET dsr.locale = 'en'")
            let expected = ProcessingRegister(
                stores: try ConnectorCatalog.load(directory: StoreFixture.connectorsDirectory, environment: [:]))
            for entry in expected.entries {
                let row = try await english.query(
                    "SELECT * FROM dsr.register WHERE store = $1 AND table_name = $2", [entry.store, entry.table])[0]
                for column in ProcessingRegister.Column.allCases where column != .store && column != .table {
                    #expect(
                        try row.decode(column.rawValue, as: String.self) == entry.text(column, locale: "en"), "\(entry.table).\(column)")
                }
            }
            await english.close()
            #expect(
                try await connection.count(
                    """
                    SELECT count(*) FROM dsr.register_entries
                     WHERE table_name = 'ad_audiences' AND lawful_basis = '{consent}'
                       AND transfers = '[{"country": "US", "recipient": "marketing_provider", "safeguard": "provider_terms"}]'
                    """) == 1)

            // A restart with one mapping fewer and one more: the register follows.
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            for store in ["customer", "order"] {
                try FileManager.default.copyItem(
                    atPath: "\(StoreFixture.connectorsDirectory)/\(store).toml",
                    toPath: directory.appendingPathComponent("\(store).toml").path)
            }
            let root = URL(fileURLWithPath: StoreFixture.connectorsDirectory).deletingLastPathComponent().deletingLastPathComponent()
            try FileManager.default.copyItem(
                at: root.appendingPathComponent("Deploy/demo-connectors/paper_archive.toml"),
                to: directory.appendingPathComponent("paper_archive.toml"))
            try await connection.execute("UPDATE dsr.register_entries SET changed_at = '2026-01-01'")
            try await InProcessDaemon.run(database: database, overrides: ["connectors.directory=\(directory.path)"]) { _ in }
            #expect(try await connection.count("SELECT count(*) FROM dsr.register_entries WHERE store = 'marketing'") == 0)
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.register WHERE table_name = 'membership_forms' AND store_type = 'เอกสารหรือจัดการโดยบุคคล'") == 1
            )
            #expect(try await connection.count("SELECT count(*) FROM dsr.register_entries WHERE changed_at = '2026-01-01'") == 8)
        }
    }
}

/// RFC 4180 records: quoted fields may hold commas, quotes (doubled) and line breaks; records
/// end with CRLF.
enum CSVReader {
    struct Malformed: Error {}

    static func records(_ text: String) throws -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field = ""
        var quoted = false
        var characters = Array(text)[...]
        while let character = characters.popFirst() {
            if quoted {
                if character == "\"" {
                    if characters.first == "\"" {
                        field.append("\"")
                        characters.removeFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"":
                guard field.isEmpty else { throw Malformed() }
                quoted = true
            case ",":
                record.append(field)
                field = ""
            case "\r\n":
                record.append(field)
                records.append(record)
                record = []
                field = ""
            case "\n", "\r":
                throw Malformed()
            default:
                field.append(character)
            }
        }
        guard !quoted, field.isEmpty, record.isEmpty else { throw Malformed() }
        return records
    }
}
