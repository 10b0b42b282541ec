import Foundation
import TOMLKit

/// One store as described in `Config/connectors/NAME.toml`: where it is, which tables hold
/// personal data, how each table is tied to a person, and what each column is.
public struct StoreMapping: Sendable, Equatable {
    public enum Kind: String, Sendable { case postgres, http }

    public var name: String
    public var kind: Kind
    /// libpq connection string (postgres) or base URL (http).
    public var url: String
    /// Where the data came from (codes: signup, phone, email, facebook_login, google_login, checkout, website, marketing).
    public var sources: [String]
    public var tables: [TableMapping]
    /// HTTP stores: path of the export endpoint, relative to `url`.
    public var exportPath: String
    /// HTTP stores: file holding a bearer token. Empty: no auth.
    public var tokenFile: String
    /// Table receiving keyed hashes of an erased person's email and phone
    /// (`identifier_hash text PRIMARY KEY, kind text, added_at timestamptz`), so importers
    /// can skip them. Empty: none.
    public var suppressionTable: String
}

public struct TableMapping: Sendable, Equatable {
    public struct Relation: Sendable, Equatable {
        /// The parent table (declared earlier in the same store).
        public var table: String
        /// Column of this table that points at the parent.
        public var column: String
        /// Column of the parent it points at.
        public var references: String
    }

    public var name: String
    /// Stable ordering column for exports.
    public var key: String
    /// Which identifier each column holds.
    public var identity: [IdentityKind: String]
    /// Rows matched here tell who the person is (emails, phones, ids feed the other stores).
    public var authoritative: Bool
    public var parent: Relation?
    /// Column -> data category (personal, contact, account, identity_proof, transaction_financial, technical, other).
    public var categories: [String: String]
    /// Column -> erasure strategy (delete, null, hash, mask, keep); used by erasure.
    public var erasure: [String: String]
    public var purposes: [String]
    public var recipients: [String]
    /// Retention period in words, per locale (`th`, `en`).
    public var retention: [String: String]
    /// A legal duty to keep rows for a while after an erasure request.
    public var hold: Hold?
    /// Columns a rectification request may correct.
    public var rectify: [String] = []
    /// Boolean column set while processing is restricted.
    public var restrictFlag: String?
    /// On objection or consent withdrawal: `delete` the rows, or set this timestamp column
    /// (where it is still NULL) to now.
    public var onObjection: String?
    /// Column naming the purpose of a row (consents), to withdraw only the purposes named.
    public var purposeColumn: String?
    /// Finds minors without a guardian's consent, whose data the policy says is erased.
    public var minorCheck: MinorCheck?

    public struct MinorCheck: Sendable, Equatable {
        /// Date-of-birth column.
        public var birthDate: String
        /// Boolean column: a parent's or guardian's consent is on record.
        public var guardianConsent: String
        /// Age of majority (PDPA s.20 and the Civil and Commercial Code: 20).
        public var age: Int
    }

    public struct Hold: Sendable, Equatable {
        /// The law or reason, stated in the deletion proof.
        public var rule: String
        /// Rows are kept this many years after `from`...
        public var years: Int
        /// ...a date or timestamp column.
        public var from: String
        /// A boolean column: rows where it is true are kept untouched (e.g. an open dispute).
        public var keepIf: String?
        public var keepRule: String
    }

    /// Whether an objection or consent withdrawal naming `purposes` (all purposes when empty)
    /// stops this table's processing. With a `purpose_column` the rows of the named purposes
    /// are stopped; without one the whole table is, when it serves any named purpose: a table
    /// that exists for marketing is covered by every objection to marketing (PDPA s.32: an
    /// objection to direct marketing cannot be refused), whatever else the request names.
    public func coversObjection(to purposes: [String]) -> Bool {
        guard onObjection != nil else { return false }
        if purposes.isEmpty || purposeColumn != nil { return true }
        return !Set(self.purposes).isDisjoint(with: purposes)
    }

    /// What happens to this table's rows that are not on hold: delete, anonymise or keep.
    public var rowStrategy: String { erasure["_row"] ?? (erasure.isEmpty ? "delete" : "anonymise") }
    /// Column strategies applied to rows that are anonymised (held, or `_row = "anonymise"`).
    public var columnStrategies: [String: String] { erasure.filter { $0.key != "_row" && $0.value != "keep" } }
}

public enum ConnectorCatalog {
    static let categories: Set = ["personal", "contact", "account", "identity_proof", "transaction_financial", "technical", "other"]
    static let strategies: Set = ["delete", "null", "hash", "mask", "keep"]

    /// Loads every `*.toml` in `directory`, sorted by file name. A `DSRD_STORE_<NAME>_URL`
    /// environment variable replaces a store's `url` (deployments and tests point the same
    /// mapping at other databases).
    public static func load(directory: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [StoreMapping] {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw ConfigurationError("connectors.directory: cannot read \(directory)")
        }
        var stores: [StoreMapping] = []
        for file in files.filter({ $0.hasSuffix(".toml") }).sorted() {
            let path = "\(directory)/\(file)"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError("\(path): cannot read")
            }
            var store = try parse(text, source: path)
            if let url = environment["DSRD_STORE_\(store.name.uppercased())_URL"] { store.url = url }
            guard !stores.contains(where: { $0.name == store.name }) else {
                throw ConfigurationError("\(path): a store named \(store.name) is already defined")
            }
            stores.append(store)
        }
        return stores
    }

    public static func parse(_ text: String, source: String) throws -> StoreMapping {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError("\(source):\(error.source.begin.line):\(error.source.begin.column): \(error.description)")
        }
        func fail(_ message: String) -> ConfigurationError { ConfigurationError("\(source): \(message)") }
        func identifier(_ value: String?, _ what: String) throws -> String {
            guard let value, value.range(of: "^[a-z_][a-z0-9_]{0,62}$", options: .regularExpression) != nil else {
                throw fail("\(what) must be a lower-case SQL identifier")
            }
            return value
        }
        func strings(_ value: TOMLValueConvertible?, _ what: String) throws -> [String] {
            guard let value else { return [] }
            guard let array = value.array else { throw fail("\(what) must be an array of strings") }
            return try array.map {
                guard let text = $0.string else { throw fail("\(what) must be an array of strings") }
                return text
            }
        }
        func stringTable(_ value: TOMLValueConvertible?, _ what: String) throws -> [String: String] {
            guard let value else { return [:] }
            guard let inner = value.table else { throw fail("\(what) must be a table of strings") }
            var result: [String: String] = [:]
            for key in inner.keys {
                guard let text = inner[key]?.string else { throw fail("\(what).\(key) must be a string") }
                result[key] = text
            }
            return result
        }
        let allowedTop: Set = ["name", "type", "url", "sources", "tables", "export_path", "token_file", "suppression_table"]
        for key in table.keys where !allowedTop.contains(key) { throw fail("unknown key \(key)") }
        let name = try identifier(table["name"]?.string, "name")
        guard let kind = StoreMapping.Kind(rawValue: table["type"]?.string ?? "postgres") else {
            throw fail("type must be postgres or http")
        }
        var tables: [TableMapping] = []
        guard let tableArray = table["tables"]?.array, !tableArray.isEmpty else { throw fail("at least one [[tables]] is required") }
        let allowedTable: Set = ["name", "key", "identity", "authoritative", "parent", "categories", "erasure", "purposes",
                                 "recipients", "retention", "hold", "rectify", "restrict_flag", "on_objection", "purpose_column", "minor_check"]
        for entry in tableArray {
            guard let entry = entry.table else { throw fail("[[tables]] entries must be tables") }
            let tableName = try identifier(entry["name"]?.string, "tables.name")
            let where_ = "table \(tableName)"
            for key in entry.keys where !allowedTable.contains(key) { throw fail("\(where_): unknown key \(key)") }
            var identity: [IdentityKind: String] = [:]
            for (kindName, column) in try stringTable(entry["identity"], "\(where_).identity") {
                guard let identityKind = IdentityKind(rawValue: kindName) else {
                    throw fail("\(where_).identity: unknown identifier \(kindName) (email, phone, customer_id, national_id)")
                }
                identity[identityKind] = try identifier(column, "\(where_).identity.\(kindName)")
            }
            var parent: TableMapping.Relation?
            if let relation = try Optional(stringTable(entry["parent"], "\(where_).parent")), !relation.isEmpty {
                let parentTable = try identifier(relation["table"], "\(where_).parent.table")
                guard tables.contains(where: { $0.name == parentTable }) else {
                    throw fail("\(where_).parent.table \(parentTable) must be declared before it")
                }
                parent = .init(table: parentTable, column: try identifier(relation["column"], "\(where_).parent.column"),
                               references: try identifier(relation["references"], "\(where_).parent.references"))
            }
            guard !identity.isEmpty || parent != nil else {
                throw fail("\(where_) needs an identity column or a parent, or no row could be tied to a person")
            }
            let categories = try stringTable(entry["categories"], "\(where_).categories")
            for (column, category) in categories {
                _ = try identifier(column, "\(where_).categories key")
                guard Self.categories.contains(category) else {
                    throw fail("\(where_).categories.\(column): unknown category \(category)")
                }
            }
            let erasure = try stringTable(entry["erasure"], "\(where_).erasure")
            for (column, strategy) in erasure {
                if column == "_row" {
                    guard ["delete", "anonymise", "keep"].contains(strategy) else {
                        throw fail("\(where_).erasure._row: unknown strategy \(strategy) (delete, anonymise, keep)")
                    }
                    continue
                }
                _ = try identifier(column, "\(where_).erasure key")
                guard Self.strategies.contains(strategy), strategy != "delete" else {
                    throw fail("\(where_).erasure.\(column): unknown strategy \(strategy) (null, hash, mask, keep; delete rows with _row)")
                }
            }
            if erasure["_row"] == "anonymise" && !erasure.contains(where: { $0.key != "_row" && $0.value != "keep" }) {
                throw fail("\(where_).erasure: _row = \"anonymise\" needs at least one column to null, hash or mask")
            }
            var minorCheck: TableMapping.MinorCheck?
            if let value = entry["minor_check"] {
                guard let check = value.table else { throw fail("\(where_).minor_check must be a table") }
                guard identity[.customerID] != nil else {
                    throw fail("\(where_).minor_check needs a customer_id identity column to name the minors it finds")
                }
                minorCheck = .init(
                    birthDate: try identifier(check["birth_date"]?.string, "\(where_).minor_check.birth_date"),
                    guardianConsent: try identifier(check["guardian_consent"]?.string, "\(where_).minor_check.guardian_consent"),
                    age: check["age"]?.int ?? 20)
            }
            var hold: TableMapping.Hold?
            if let holdValue = entry["hold"] {
                guard let holdTable = holdValue.table else { throw fail("\(where_).hold must be a table") }
                for key in holdTable.keys where !["rule", "years", "from", "keep_if", "keep_rule"].contains(key) {
                    throw fail("\(where_).hold: unknown key \(key)")
                }
                guard let rule = holdTable["rule"]?.string, !rule.isEmpty else { throw fail("\(where_).hold.rule is required") }
                guard let years = holdTable["years"]?.int, (0...100).contains(years) else {
                    throw fail("\(where_).hold.years must be a whole number of years")
                }
                hold = .init(
                    rule: rule, years: years, from: try identifier(holdTable["from"]?.string, "\(where_).hold.from"),
                    keepIf: try holdTable["keep_if"]?.string.map { try identifier($0, "\(where_).hold.keep_if") },
                    keepRule: holdTable["keep_rule"]?.string ?? "kept while the matter is open")
            }
            let purposes = try strings(entry["purposes"], "\(where_).purposes")
            if purposes == ["marketing"] && entry["on_objection"] == nil {
                throw fail(
                    "\(where_): its only purpose is marketing, so an objection to direct marketing (PDPA s.32, which allows no refusal) must stop it: set on_objection (\"delete\" or a timestamp column)")
            }
            tables.append(TableMapping(
                name: tableName, key: try identifier(entry["key"]?.string ?? "id", "\(where_).key"), identity: identity,
                authoritative: entry["authoritative"]?.bool ?? false, parent: parent, categories: categories, erasure: erasure,
                purposes: purposes,
                recipients: try strings(entry["recipients"], "\(where_).recipients"),
                retention: try stringTable(entry["retention"], "\(where_).retention"), hold: hold,
                rectify: try strings(entry["rectify"], "\(where_).rectify").map { try identifier($0, "\(where_).rectify") },
                restrictFlag: try entry["restrict_flag"]?.string.map { try identifier($0, "\(where_).restrict_flag") },
                onObjection: try entry["on_objection"]?.string.map { try identifier($0, "\(where_).on_objection") },
                purposeColumn: try entry["purpose_column"]?.string.map { try identifier($0, "\(where_).purpose_column") },
                minorCheck: minorCheck))
        }
        return StoreMapping(
            name: name, kind: kind, url: table["url"]?.string ?? "", sources: try strings(table["sources"], "sources"),
            tables: tables, exportPath: table["export_path"]?.string ?? "/dsr/export",
            tokenFile: table["token_file"]?.string ?? "",
            suppressionTable: try table["suppression_table"]?.string.map { try identifier($0, "suppression_table") } ?? "")
    }
}
