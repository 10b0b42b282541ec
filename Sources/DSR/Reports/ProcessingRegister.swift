import Foundation

/// The register of processing activities (PDPA s.39) as the store mappings describe it: one
/// entry per table of every store (SQL, HTTP and manual alike), with what it holds, why, on
/// which lawful basis, for whom, where abroad, for how long and from where. `dsrd ropa` writes
/// it as CSV or HTML; `dsrd run` publishes it to `dsr.register_entries` (`dsr.register`).
public struct ProcessingRegister: Sendable {
    public let entries: [Entry]

    public init(stores: [StoreMapping]) {
        entries = stores.flatMap { store in
            store.tables.enumerated().map { position, table in Entry(store: store, table: table, position: position + 1) }
        }
    }

    /// The register's columns, in order.
    public enum Column: String, CaseIterable, Sendable {
        case store
        case storeType = "store_type"
        case table
        case dataCategories = "data_categories"
        case purposes
        case recipients
        case transfers = "cross_border_transfers"
        case retention
        case lawfulBasis = "lawful_basis"
        case sources
    }

    /// One store table. Codes as the mapping gives them; ``items(_:locale:)`` and
    /// ``text(_:locale:)`` put them into words (the mapping's `[labels]`, else dsrd's own).
    public struct Entry: Sendable, Equatable {
        public let store: String
        public let storeKind: StoreMapping.Kind
        public let table: String
        /// Its place among the store's tables (1, 2, ...), as in the mapping.
        public let position: Int
        /// Categories of its columns, each once, in the vocabulary's order.
        public let categories: [String]
        public let purposes: [String]
        public let recipients: [String]
        public let transfers: [TableMapping.Transfer]
        /// Retention in words, per locale, as the mapping states it.
        public let retention: [String: String]
        public let lawfulBasis: [String]
        /// The store's sources (a mapping states them per store).
        public let sources: [String]
        let labels: [String: [String: String]]

        init(store: StoreMapping, table: TableMapping, position: Int) {
            self.store = store.name
            storeKind = store.kind
            self.table = table.name
            self.position = position
            let used = Set(table.categories.values)
            categories = PrivacyVocabulary.categoryOrder.filter(used.contains)
            purposes = table.purposes
            recipients = table.recipients
            transfers = table.transfers
            retention = table.retention
            lawfulBasis = table.lawfulBasis
            sources = store.sources
            labels = store.labels
        }

        /// The column's values in words, one item per code (empty when the mapping states none).
        public func items(_ column: Column, locale: String) -> [String] {
            switch column {
            case .store: [store]
            case .storeType: [RegisterWords.storeKind(storeKind, locale: locale)]
            case .table: [table]
            case .dataCategories: categories.map { label($0, locale: locale, PrivacyVocabulary.label) }
            case .purposes: purposes.map { label($0, locale: locale, PrivacyVocabulary.label) }
            case .recipients: recipients.map { label($0, locale: locale, PrivacyVocabulary.label) }
            case .transfers: transfers.map { transferText($0, locale: locale) }
            case .retention: (retention[locale] ?? retention["th"] ?? retention["en"]).map { [$0] } ?? []
            case .lawfulBasis: lawfulBasis.map { label($0, locale: locale, PrivacyVocabulary.lawfulBasisLabel) }
            case .sources: sources.map { label($0, locale: locale, PrivacyVocabulary.label) }
            }
        }

        /// The column as one line: items joined by "; ", or what an empty column means (no
        /// transfers abroad; anything else not stated in the mapping).
        public func text(_ column: Column, locale: String) -> String {
            let items = items(column, locale: locale)
            guard items.isEmpty else { return items.joined(separator: "; ") }
            return column == .transfers ? RegisterWords.none(locale: locale) : RegisterWords.notStated(locale: locale)
        }

        /// Columns the mapping leaves empty (an empty transfer list means no transfers abroad).
        public var missing: [Column] {
            Column.allCases.filter { $0 != .transfers && items($0, locale: "en").isEmpty }
        }

        /// `United States: marketing service providers (safeguard: ...)`.
        func transferText(_ transfer: TableMapping.Transfer, locale: String) -> String {
            let country = PrivacyVocabulary.countryName(transfer.country, locale: locale)
            let recipient = label(transfer.recipient, locale: locale, PrivacyVocabulary.label)
            let safeguard = label(transfer.safeguard, locale: locale, PrivacyVocabulary.safeguardLabel)
            return locale == "en"
                ? "\(country) (\(transfer.country)): \(recipient); safeguard: \(safeguard)"
                : "\(country) (\(transfer.country)): \(recipient) มาตรการคุ้มครอง: \(safeguard)"
        }

        /// A code's words: the mapping's label, else dsrd's vocabulary.
        func label(_ code: String, locale: String, _ vocabulary: (String, String) -> String) -> String {
            labels[code]?[locale] ?? labels[code]?["en"] ?? labels[code]?["th"] ?? vocabulary(code, locale)
        }
    }
}
