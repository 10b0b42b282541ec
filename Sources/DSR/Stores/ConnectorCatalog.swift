import Foundation
import TOMLKit

/// Reads the store mappings (`Config/connectors/*.toml`): decodes each file (TOMLKit, unknown
/// keys refused) and checks everything that does not need the store itself: names are SQL
/// identifiers, codes are known or labelled, strategies and holds are complete. What needs
/// the store (tables, columns, types, indexes) is checked by `dsrd check`.
public enum ConnectorCatalog {

    /// Loads every `*.toml` in `directory`, sorted by file name. A `DSRD_STORE_<NAME>_URL`
    /// environment variable replaces a store's `url` (deployments and tests point the same
    /// mapping at other databases). `identifierKinds` are the kinds a mapping may name (the
    /// built-in four and `identifiers.extra_kinds`).
    public static func load(
        directory: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        identifierKinds: [IdentityKind] = IdentityKind.builtIn
    ) throws -> [StoreMapping] {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw ConfigurationError("connectors.directory: cannot read \(directory)")
        }
        var stores: [StoreMapping] = []
        for file in files.filter({ $0.hasSuffix(".toml") }).sorted() {
            let path = "\(directory)/\(file)"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError("\(path): cannot read")
            }
            var store = try parse(text, source: path, identifierKinds: identifierKinds)
            if let url = environment["DSRD_STORE_\(store.name.uppercased())_URL"] { store.url = url }
            guard !stores.contains(where: { $0.name == store.name }) else {
                throw ConfigurationError("\(path): a store named \(store.name) is already defined")
            }
            stores.append(store)
        }
        var processors: Set<String> = []
        for processor in stores.flatMap(\.processors) where !processors.insert(processor.name).inserted {
            throw ConfigurationError("\(directory): two [[processors]] are named \(processor.name); names must be unique across stores")
        }
        return stores
    }

    public static func parse(_ text: String, source: String, identifierKinds: [IdentityKind] = IdentityKind.builtIn) throws -> StoreMapping
    {
        let file: MappingFile
        do {
            file = try TOMLDecoder(strictDecoding: true).decode(MappingFile.self, from: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError("\(source):\(error.source.begin.line):\(error.source.begin.column): \(error.description)")
        } catch let error as UnexpectedKeysError {
            let keys = error.keys.map { key, path in keyPath(path, key) }
            throw ConfigurationError("\(source): unknown key \(keys.sorted().joined(separator: ", "))")
        } catch let error as DecodingError {
            throw ConfigurationError("\(source): \(describe(error))")
        }
        return try MappingValidator(source: source, file: file, identifierKinds: identifierKinds).mapping()
    }

    /// Where an unknown key is: `colour`, `tables[2].transfers[1].note`.
    static func keyPath(_ path: [any CodingKey], _ key: String) -> String {
        var path = path
        if path.last?.stringValue == key { path.removeLast() }
        let text = path.reduce("") { text, component in
            if let index = component.intValue { return text + "[\(index + 1)]" }
            return text.isEmpty ? component.stringValue : text + "." + component.stringValue
        }
        return text.isEmpty ? key : text + "." + key
    }

    /// A decoding error as `tables[2].key: expected a string or an array of strings`.
    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.reduce("") { text, key in
                if let index = key.intValue { return text + "[\(index + 1)]" }
                return text.isEmpty ? key.stringValue : text + "." + key.stringValue
            }
        }
        switch error {
        case .keyNotFound(let key, let context):
            let at = path(context.codingPath)
            return (at.isEmpty ? "" : at + ": ") + "\(key.stringValue) is required"
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(expected(type))"
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func expected(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "a whole number"
        case is Bool.Type: "true or false"
        case is [String].Type: "an array of strings"
        default: "\(type)".contains("Array") ? "an array" : "a table"
        }
    }
}

/// Checks one decoded mapping file and builds the ``StoreMapping``; each rule's error names
/// the file, the table and the key.
struct MappingValidator {
    let source: String
    let file: MappingFile
    let identifierKinds: [IdentityKind]

    func fail(_ message: String) -> ConfigurationError { ConfigurationError("\(source): \(message)") }

    func identifier(_ value: String?, _ what: String) throws -> String {
        // Letters, digits and underscores: always quoted in SQL, so a mixed-case column
        // ("DisplayName") is named exactly as it is.
        guard let value, value.range(of: "^[A-Za-z_][A-Za-z0-9_]{0,62}$", options: .regularExpression) != nil else {
            throw fail("\(what) must be an SQL identifier (letters, digits and underscores, as the table or column is named)")
        }
        return value
    }

    /// A store name or a code of the mapping's own: lower case, as it appears in
    /// `dsr.request_tasks`, the bundle's folders and `DSRD_STORE_<NAME>_URL`.
    func code(_ value: String?, _ what: String) throws -> String {
        guard let value, value.range(of: "^[a-z_][a-z0-9_]{0,62}$", options: .regularExpression) != nil else {
            throw fail("\(what) must be lower-case letters, digits and underscores")
        }
        return value
    }

    func mapping() throws -> StoreMapping {
        let name = try code(file.name, "name")
        guard let kind = StoreMapping.Kind(rawValue: file.type ?? "postgres") else {
            throw fail("type must be \(StoreMapping.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let entries = file.tables ?? []
        guard !entries.isEmpty || kind == .manual else { throw fail("at least one [[tables]] is required") }
        try onlyFor(kind)
        let labels = file.labels ?? [:]
        for (code, texts) in labels {
            _ = try self.code(code, "labels key")
            guard texts["th"] != nil || texts["en"] != nil, texts.keys.allSatisfy({ ["th", "en"].contains($0) }) else {
                throw fail("labels.\(code) must give th and/or en, e.g. { th = \"...\", en = \"...\" }")
            }
        }
        let sources = file.sources ?? []
        try known(sources, PrivacyVocabulary.sources, labels: labels, "sources")
        var tables: [TableMapping] = []
        for entry in entries { tables.append(try table(entry, declaredBefore: tables, labels: labels, kind: kind)) }
        var store = StoreMapping(
            name: name, kind: kind, url: file.url ?? "", sources: sources, tables: tables,
            exportPath: try path(file.exportPath, "export_path") ?? "/dsr/export", tokenFile: file.tokenFile ?? "",
            suppressionTable: try file.suppressionTable.map { try identifier($0, "suppression_table") } ?? "", labels: labels)
        if kind == .http {
            guard store.url.hasPrefix("http://") || store.url.hasPrefix("https://") else {
                throw fail("url must be the store's base URL (http:// or https://)")
            }
            store.http.erasePath = try path(file.erasePath, "erase_path") ?? store.http.erasePath
            store.http.updatePath = try path(file.updatePath, "update_path") ?? store.http.updatePath
            store.http.signingSecretFile = file.signingSecretFile ?? ""
            if let days = file.asyncWaitDays {
                guard (1...365).contains(days) else { throw fail("async_wait_days must be 1 to 365") }
                store.http.asyncWaitDays = days
            }
        }
        if kind == .manual { store.manual = try manualSettings() }
        store.processors = try (file.processors ?? []).enumerated().map { try processor($1, at: "processors[\($0 + 1)]") }
        return store
    }

    /// Keys that mean something for one type of store only are refused on the others, so a
    /// misplaced key is not silently ignored.
    func onlyFor(_ kind: StoreMapping.Kind) throws {
        let keys: [(StoreMapping.Kind, String, Bool)] = [
            (.http, "export_path", file.exportPath != nil), (.http, "erase_path", file.erasePath != nil),
            (.http, "update_path", file.updatePath != nil), (.http, "token_file", file.tokenFile != nil),
            (.http, "signing_secret_file", file.signingSecretFile != nil), (.http, "async_wait_days", file.asyncWaitDays != nil),
            (.manual, "owner", file.owner != nil), (.manual, "owner_language", file.ownerLanguage != nil),
            (.manual, "instructions", file.instructions != nil), (.manual, "remind_every_days", file.remindEveryDays != nil),
            (.manual, "escalate_after_days", file.escalateAfterDays != nil),
        ]
        for (only, key, present) in keys where present && only != kind {
            throw fail("\(key) applies to type = \"\(only.rawValue)\" stores only")
        }
        if kind != .postgres, file.suppressionTable != nil { throw fail("suppression_table applies to postgres stores only") }
        if kind == .manual, file.url != nil { throw fail("a manual store has no url: its owner does the work") }
    }

    func path(_ value: String?, _ key: String) throws -> String? {
        guard let value else { return nil }
        guard value.hasPrefix("/"), !value.contains(where: \.isWhitespace) else { throw fail("\(key) must be a path starting with /") }
        return value
    }

    func manualSettings() throws -> StoreMapping.ManualSettings {
        guard let owner = file.owner?.trimmingCharacters(in: .whitespaces), let normalized = IdentifierNormalizer.email(owner) else {
            throw fail("owner: a manual store needs the email of the person who does its tasks")
        }
        guard let language = Language(rawValue: file.ownerLanguage ?? "th") else { throw fail("owner_language must be th or en") }
        let instructions = file.instructions ?? [:]
        guard instructions.keys.allSatisfy({ ["th", "en"].contains($0) }), instructions[language.rawValue] != nil else {
            throw fail(
                "instructions must say what to do in the owner's language: instructions = { \(language.rawValue) = \"...\" } (th and/or en)"
            )
        }
        let remind = file.remindEveryDays ?? 3
        let escalate = file.escalateAfterDays ?? 7
        guard (1...60).contains(remind) else { throw fail("remind_every_days must be 1 to 60") }
        guard (1...60).contains(escalate) else { throw fail("escalate_after_days must be 1 to 60") }
        return .init(
            owner: normalized, ownerLanguage: language, instructions: instructions, remindEveryDays: remind, escalateAfterDays: escalate)
    }

    func processor(_ entry: MappingFile.Processor, at: String) throws -> StoreMapping.Processor {
        let name = try identifier(entry.name, "\(at).name")
        guard entry.url.hasPrefix("http://") || entry.url.hasPrefix("https://") else {
            throw fail("\(at).url must be the webhook's URL (http:// or https://)")
        }
        guard !entry.secretFile.isEmpty else { throw fail("\(at).secret_file is required: every event is signed") }
        var events = StoreMapping.Processor.defaultEvents
        if let codes = entry.events {
            let told: Set<RequestKind> = [.erasure, .rectification, .restriction, .objection, .consentWithdrawal]
            events = try codes.map { code in
                guard let kind = RequestKind(rawValue: code), told.contains(kind) else {
                    throw fail("\(at).events: \(code) is not one of \(told.map(\.rawValue).sorted().joined(separator: ", "))")
                }
                return kind
            }
            guard !events.isEmpty else { throw fail("\(at).events is empty: remove the processor instead") }
        }
        return .init(name: name, url: entry.url, events: events, secretFile: entry.secretFile)
    }

    /// Codes dsrd can put into words in the export summary: its vocabulary's, or labelled.
    func known(_ codes: [String], _ vocabulary: Set<String>, labels: [String: [String: String]], _ what: String) throws {
        for code in codes where !vocabulary.contains(code) && labels[code] == nil {
            throw fail(
                "\(what): unknown code \(code); known codes are \(vocabulary.sorted().joined(separator: ", ")), or give it words in [labels] (\(code) = { th = \"...\", en = \"...\" })"
            )
        }
    }

    func table(
        _ entry: MappingFile.Table, declaredBefore tables: [TableMapping], labels: [String: [String: String]], kind: StoreMapping.Kind
    ) throws -> TableMapping {
        let tableName = try identifier(entry.name, "tables.name")
        let at = "table \(tableName)"
        var identity: [IdentityKind: String] = [:]
        for (kindName, column) in entry.identity ?? [:] {
            let kind = IdentityKind(rawValue: kindName)
            guard identifierKinds.contains(kind) else {
                throw fail(
                    "\(at).identity: unknown identifier \(kindName) (\(identifierKinds.map(\.rawValue).joined(separator: ", ")); more kinds go in identifiers.extra_kinds)"
                )
            }
            identity[kind] = try identifier(column, "\(at).identity.\(kindName)")
        }
        var parent: TableMapping.Relation?
        if let relation = entry.parent {
            let parentTable = try identifier(relation.table, "\(at).parent.table")
            guard tables.contains(where: { $0.name == parentTable }) else {
                throw fail("\(at).parent.table \(parentTable) must be declared before it")
            }
            parent = .init(
                table: parentTable, column: try identifier(relation.column, "\(at).parent.column"),
                references: try identifier(relation.references, "\(at).parent.references"))
        }
        // A manual store's tables describe records a person looks through: nothing to match on.
        guard !identity.isEmpty || parent != nil || kind == .manual else {
            throw fail("\(at) needs an identity column or a parent, or no row could be tied to a person")
        }
        let categories = entry.categories ?? [:]
        for (column, category) in categories {
            _ = try identifier(column, "\(at).categories key")
            guard PrivacyVocabulary.categories.contains(category) else {
                throw fail(
                    "\(at).categories.\(column): unknown category \(category) (\(PrivacyVocabulary.categories.sorted().joined(separator: ", ")))"
                )
            }
        }
        let erasure = try erasureStrategies(entry.erasure ?? [:], at: at)
        let purposes = entry.purposes ?? []
        try known(purposes, PrivacyVocabulary.purposes, labels: labels, "\(at).purposes")
        try known(entry.recipients ?? [], PrivacyVocabulary.recipients, labels: labels, "\(at).recipients")
        if purposes == ["marketing"] && entry.onObjection == nil {
            throw fail(
                "\(at): its only purpose is marketing, so an objection to direct marketing (PDPA s.32, which allows no refusal) must stop it: set on_objection (\"delete\" or a timestamp column)"
            )
        }
        let lawfulBasis = entry.lawfulBasis ?? []
        try known(lawfulBasis, PrivacyVocabulary.lawfulBases, labels: labels, "\(at).lawful_basis")
        guard Set(lawfulBasis).count == lawfulBasis.count else { throw fail("\(at).lawful_basis names a code twice") }
        let transfers = try (entry.transfers ?? []).enumerated().map { index, transfer in
            try self.transfer(transfer, at: "\(at).transfers[\(index + 1)]", recipients: entry.recipients ?? [], labels: labels)
        }
        for (index, transfer) in transfers.enumerated()
        where transfers[..<index].contains(where: { $0.country == transfer.country && $0.recipient == transfer.recipient }) {
            throw fail("\(at).transfers[\(index + 1)]: \(transfer.recipient) in \(transfer.country) is listed twice")
        }
        var minorCheck: TableMapping.MinorCheck?
        if let check = entry.minorCheck {
            guard identity[.customerID] != nil else {
                throw fail("\(at).minor_check needs a customer_id identity column to name the minors it finds")
            }
            let age = check.age ?? 20
            let guardianOnlyUnder = check.guardianOnlyUnder ?? min(10, age)
            guard (1...150).contains(age), (0...age).contains(guardianOnlyUnder) else {
                throw fail("\(at).minor_check: age must be 1 to 150 and guardian_only_under 0 to age (got \(age) and \(guardianOnlyUnder))")
            }
            minorCheck = .init(
                birthDate: try identifier(check.birthDate, "\(at).minor_check.birth_date"),
                guardianConsent: try identifier(check.guardianConsent, "\(at).minor_check.guardian_consent"), age: age,
                guardianOnlyUnder: guardianOnlyUnder)
        }
        var hold: TableMapping.Hold?
        if let rule = entry.hold {
            guard !rule.rule.isEmpty else { throw fail("\(at).hold.rule is required") }
            guard (0...100).contains(rule.years) else { throw fail("\(at).hold.years must be a whole number of years") }
            hold = .init(
                rule: rule.rule, years: rule.years, from: try identifier(rule.from, "\(at).hold.from"),
                keepIf: try rule.keepIf.map { try identifier($0, "\(at).hold.keep_if") },
                keepRule: rule.keepRule ?? "kept while the matter is open")
        }
        var expire: TableMapping.Expire?
        if let rule = entry.expire {
            let after = rule.after.trimmingCharacters(in: .whitespaces).lowercased()
            guard after.range(of: "^[1-9][0-9]{0,3} (day|days|month|months|year|years)$", options: .regularExpression) != nil else {
                throw fail("\(at).expire.after must be a number and days, months or years, e.g. \"13 months\"")
            }
            expire = .init(after: after, from: try identifier(rule.from, "\(at).expire.from"))
        }
        let mapped = TableMapping(
            name: tableName, key: try (entry.key?.values ?? []).map { try identifier($0, "\(at).key") }, identity: identity,
            authoritative: entry.authoritative ?? false, parent: parent, categories: categories, erasure: erasure,
            purposes: purposes, recipients: entry.recipients ?? [], retention: entry.retention ?? [:], hold: hold,
            rectify: try (entry.rectify ?? []).map { try identifier($0, "\(at).rectify") },
            restrictFlag: try entry.restrictFlag.map { try identifier($0, "\(at).restrict_flag") },
            onObjection: try entry.onObjection.map { try identifier($0, "\(at).on_objection") },
            purposeColumn: try entry.purposeColumn.map { try identifier($0, "\(at).purpose_column") },
            minorCheck: minorCheck, expire: expire, lawfulBasis: lawfulBasis, transfers: transfers)
        if expire != nil {
            guard mapped.rowStrategy != .keep else { throw fail("\(at).expire: rows that _row = \"keep\" keeps cannot expire") }
            if mapped.rowStrategy == .anonymise, mapped.columnStrategies.values.contains(.hash) {
                throw fail("\(at).expire: expired rows are anonymised with null and mask only; use null instead of hash here")
            }
        }
        return mapped
    }

    /// One cross-border transfer: a real country other than Thailand, a recipient the table
    /// already names, and a safeguard dsrd can put into words.
    func transfer(
        _ entry: MappingFile.Transfer, at: String, recipients: [String], labels: [String: [String: String]]
    ) throws -> TableMapping.Transfer {
        guard PrivacyVocabulary.isCountryCode(entry.country) else {
            throw fail("\(at).country: \(entry.country) is not an ISO 3166-1 country code (two capital letters, e.g. US, SG, JP)")
        }
        guard entry.country != "TH" else { throw fail("\(at).country: TH is not abroad; list only transfers outside Thailand") }
        guard recipients.contains(entry.recipient) else {
            throw fail(
                "\(at).recipient: \(entry.recipient) is not one of the table's recipients (\(recipients.joined(separator: ", "))); add it to recipients first"
            )
        }
        try known([entry.safeguard], PrivacyVocabulary.safeguards, labels: labels, "\(at).safeguard")
        return .init(country: entry.country, recipient: entry.recipient, safeguard: entry.safeguard)
    }

    func erasureStrategies(_ erasure: [String: String], at: String) throws -> [String: String] {
        for (column, strategy) in erasure {
            if column == "_row" {
                guard ErasureStrategy.Row(rawValue: strategy) != nil else {
                    throw fail("\(at).erasure._row: unknown strategy \(strategy) (delete, anonymise, keep)")
                }
                continue
            }
            _ = try identifier(column, "\(at).erasure key")
            guard ErasureStrategy.Column(rawValue: strategy) != nil else {
                throw fail("\(at).erasure.\(column): unknown strategy \(strategy) (null, hash, mask, keep; delete rows with _row)")
            }
        }
        if erasure["_row"] == ErasureStrategy.Row.anonymise.rawValue
            && !erasure.contains(where: { $0.key != "_row" && $0.value != ErasureStrategy.Column.keep.rawValue })
        {
            throw fail("\(at).erasure: _row = \"anonymise\" needs at least one column to null, hash or mask")
        }
        return erasure
    }
}
