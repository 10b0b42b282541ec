import Foundation

/// A store mapping file (`Config/connectors/NAME.toml`) as written, before validation: what
/// TOMLKit's decoder reads (unknown keys are refused). ``ConnectorCatalog`` turns it into a
/// ``StoreMapping``.
struct MappingFile: Decodable {
    struct Table: Decodable {
        var name: String
        var key: OneOrMany?
        var identity: [String: String]?
        var authoritative: Bool?
        var parent: Parent?
        var categories: [String: String]?
        var erasure: [String: String]?
        var purposes: [String]?
        var recipients: [String]?
        var retention: [String: String]?
        var hold: Hold?
        var rectify: [String]?
        var restrictFlag: String?
        var onObjection: String?
        var purposeColumn: String?
        var minorCheck: MinorCheck?
        var expire: Expire?
        var lawfulBasis: [String]?
        var transfers: [Transfer]?

        enum CodingKeys: String, CodingKey {
            case name, key, identity, authoritative, parent, categories, erasure, purposes, recipients, retention, hold, rectify, expire
            case transfers
            case lawfulBasis = "lawful_basis"
            case restrictFlag = "restrict_flag"
            case onObjection = "on_objection"
            case purposeColumn = "purpose_column"
            case minorCheck = "minor_check"
        }
    }

    struct Parent: Decodable {
        var table: String
        var column: String
        var references: String
    }

    /// `{ country = "US", recipient = "marketing_provider", safeguard = "appropriate_safeguards" }`.
    struct Transfer: Decodable {
        var country: String
        var recipient: String
        var safeguard: String
    }

    struct Hold: Decodable {
        var rule: String
        var years: Int
        var from: String
        var keepIf: String?
        var keepRule: String?

        enum CodingKeys: String, CodingKey {
            case rule, years, from
            case keepIf = "keep_if"
            case keepRule = "keep_rule"
        }
    }

    /// `expire = { after = "13 months", from = "at" }`.
    struct Expire: Decodable {
        var after: String
        var from: String
    }

    struct MinorCheck: Decodable {
        var birthDate: String
        var guardianConsent: String
        var age: Int?
        var guardianOnlyUnder: Int?

        enum CodingKeys: String, CodingKey {
            case age
            case birthDate = "birth_date"
            case guardianConsent = "guardian_consent"
            case guardianOnlyUnder = "guardian_only_under"
        }
    }

    /// `key = "id"` or `key = ["order_id", "sku"]`.
    struct OneOrMany: Decodable {
        var values: [String]

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(String.self) {
                values = [one]
            } else {
                values = try container.decode([String].self)
            }
        }
    }

    struct Processor: Decodable {
        var name: String
        var url: String
        var events: [String]?
        var secretFile: String

        enum CodingKeys: String, CodingKey {
            case name, url, events
            case secretFile = "secret_file"
        }
    }

    var name: String
    var type: String?
    var url: String?
    var sources: [String]?
    var tables: [Table]?
    var exportPath: String?
    var erasePath: String?
    var updatePath: String?
    var tokenFile: String?
    var signingSecretFile: String?
    var asyncWaitDays: Int?
    var suppressionTable: String?
    var labels: [String: [String: String]]?
    var owner: String?
    var ownerLanguage: String?
    var instructions: [String: String]?
    var remindEveryDays: Int?
    var escalateAfterDays: Int?
    var processors: [Processor]?

    enum CodingKeys: String, CodingKey {
        case name, type, url, sources, tables, labels, owner, instructions, processors
        case exportPath = "export_path"
        case erasePath = "erase_path"
        case updatePath = "update_path"
        case tokenFile = "token_file"
        case signingSecretFile = "signing_secret_file"
        case asyncWaitDays = "async_wait_days"
        case suppressionTable = "suppression_table"
        case ownerLanguage = "owner_language"
        case remindEveryDays = "remind_every_days"
        case escalateAfterDays = "escalate_after_days"
    }
}
